"""Settings, runners, plots and tables of the book's figures, at the three run scales.

"The paper" below is Thanh-Tung, Tran and Venkatesh, "Improving Generalization
and Stability of Generative Adversarial Networks", ICLR 2019 (arXiv:1902.03984).

* ``smoke``: seconds per figure, to check that the notebooks run (CI).
* ``quick``: the CPU default, a few minutes per figure.
* ``paper``: the sizes and iteration counts of the paper's captions, for a GPU.

Each figure has a settings dataclass, a ``figureN_settings(scale)`` function
that returns it, a runner that trains every panel with several seeds, and
functions that draw the figure and write its table and findings. The
notebooks only call these.
"""

from .common import SCALES, check_scale, mean_std, provenance, sample_std, seed_verdict, settings_table, summary_line
from .figure1 import (
    FIGURE1_PANELS,
    Figure1Panel,
    Figure1PanelResult,
    Figure1Settings,
    figure1_findings,
    figure1_settings,
    figure1_table,
    optimal_values,
    plot_figure1,
    run_figure1,
    run_figure1_panel,
)
from .figure2 import (
    FIGURE2_RUNS,
    Figure2Run,
    Figure2Settings,
    figure2_findings,
    figure2_noise,
    figure2_settings,
    figure2_spec,
    figure2_table,
    plot_figure2,
    run_figure2,
    run_figure2_run,
)
from .figure5 import (
    Figure5Settings,
    figure5_findings,
    figure5_settings,
    figure5_spec,
    figure5_table,
    plot_figure5,
    plot_figure5_curves,
    run_figure5,
)
from .figure6 import (
    FIGURE6_METHODS,
    Figure6Settings,
    Figure6Variant,
    figure6_findings,
    figure6_settings,
    figure6_specs,
    figure6_table,
    figure6_variants,
    plot_figure6,
    run_figure6,
)
from .synthetic import DistanceNoise, RunRecord, RunSpec, Target, distance_noise, train_runs

__all__ = [
    "SCALES",
    "check_scale",
    "mean_std",
    "provenance",
    "sample_std",
    "seed_verdict",
    "settings_table",
    "summary_line",
    "FIGURE1_PANELS",
    "Figure1Panel",
    "Figure1PanelResult",
    "Figure1Settings",
    "figure1_findings",
    "figure1_settings",
    "figure1_table",
    "optimal_values",
    "plot_figure1",
    "run_figure1",
    "run_figure1_panel",
    "FIGURE2_RUNS",
    "Figure2Run",
    "Figure2Settings",
    "figure2_findings",
    "figure2_noise",
    "figure2_settings",
    "figure2_spec",
    "figure2_table",
    "plot_figure2",
    "run_figure2",
    "run_figure2_run",
    "Figure5Settings",
    "figure5_findings",
    "figure5_settings",
    "figure5_spec",
    "figure5_table",
    "plot_figure5",
    "plot_figure5_curves",
    "run_figure5",
    "FIGURE6_METHODS",
    "Figure6Settings",
    "Figure6Variant",
    "figure6_findings",
    "figure6_settings",
    "figure6_specs",
    "figure6_table",
    "figure6_variants",
    "plot_figure6",
    "run_figure6",
    "DistanceNoise",
    "RunRecord",
    "RunSpec",
    "Target",
    "distance_noise",
    "train_runs",
]
