"""Check that environment.yml matches pyproject.toml and that _toc.yml matches the book's files."""

import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class is created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def requirements_by_name(lines: list[str], source: str) -> dict[str, Requirement]:
    """Parse requirement strings into a dict keyed by normalised package name."""
    requirements = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in requirements, f"{source} lists {name} twice: {requirements[name]} and {line}"
        requirements[name] = requirement
    return requirements


def pyproject_requirements() -> dict[str, Requirement]:
    with (ROOT / "pyproject.toml").open("rb") as stream:
        project = tomllib.load(stream)["project"]
    extras = project.get("optional-dependencies", {})
    lines = project["dependencies"] + extras.get("book", []) + extras.get("test", [])
    return requirements_by_name(lines, "pyproject.toml (dependencies, book and test extras)")


def environment_file() -> dict:
    with (ROOT / "environment.yml").open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def environment_pip_lines() -> list[str]:
    dependencies = environment_file()["dependencies"]
    sections = [item["pip"] for item in dependencies if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, f"environment.yml needs exactly one pip section, found {len(sections)}"
    return [str(line).strip() for line in sections[0]]


def environment_requirements() -> dict[str, Requirement]:
    lines = [line for line in environment_pip_lines() if not line.startswith("-")]
    return requirements_by_name(lines, "environment.yml")


def test_environment_lists_same_packages():
    expected = pyproject_requirements()
    actual = environment_requirements()

    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    assert not missing, f"environment.yml lacks these pyproject.toml requirements: {missing}"
    assert not extra, f"environment.yml lists packages that pyproject.toml does not: {extra}"


@pytest.mark.parametrize("name", sorted(pyproject_requirements()))
def test_environment_specifiers_match(name):
    expected = pyproject_requirements()[name]
    actual = environment_requirements().get(name)
    if actual is None:
        pytest.skip(f"{name} is missing from environment.yml; test_environment_lists_same_packages reports it")

    assert SpecifierSet(str(actual.specifier)) == SpecifierSet(str(expected.specifier)), (
        f"{name}: environment.yml has '{actual.specifier}', pyproject.toml has '{expected.specifier}'"
    )
    assert actual.extras == expected.extras, f"{name}: extras {actual.extras} differ from {expected.extras}"
    assert str(actual.marker) == str(expected.marker), (
        f"{name}: marker {actual.marker} differs from {expected.marker}"
    )


def test_environment_uses_cpu_torch_index():
    # Without this index, pip on Linux takes PyPI's CUDA build of torch.
    lines = environment_pip_lines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines


def test_environment_installs_checkout():
    assert "-e ." in environment_pip_lines()


def test_environment_python_satisfies_pyproject():
    with (ROOT / "pyproject.toml").open("rb") as stream:
        requires_python = SpecifierSet(tomllib.load(stream)["project"]["requires-python"])
    dependencies = environment_file()["dependencies"]
    pythons = [item for item in dependencies if isinstance(item, str) and item.startswith("python")]
    assert len(pythons) == 1, f"environment.yml should list python once, found {pythons}"

    version = pythons[0].split("=", 1)[1].lstrip("=")
    assert Version(version) in requires_python, (
        f"environment.yml's {pythons[0]} is outside requires-python {requires_python}"
    )


def test_toc_files_exist():
    build_book = load_build_book()
    try:
        build_book.list_pages(ROOT)
    except build_book.BuildError as error:
        pytest.fail(str(error))


def test_toc_lists_every_notebook():
    pages = load_build_book().list_pages(ROOT)
    listed = {page.path for page in pages}
    notebooks = {
        path.relative_to(ROOT)
        for path in (ROOT / "book").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts
    }

    unlisted = sorted(str(path) for path in notebooks - listed)
    assert notebooks, "book/ contains no notebook"
    assert not unlisted, f"_toc.yml does not list these notebooks: {unlisted}"
