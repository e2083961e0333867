"""Digit scores on constructed probabilities and points with known results."""

import math

import pytest
import torch

from gp_core.scores import (
    class_coverage,
    inception_score,
    interpolation_smoothness,
    nearest_distances,
    stacked_mode_labels,
    stacked_modes,
)


def one_hot(classes, k=10):
    return torch.nn.functional.one_hot(torch.as_tensor(classes), k).float()


def stacked_one_hot(digit_triples):
    """(n, 3, 10) probabilities that put all mass on the given digit of each channel."""
    return one_hot(torch.tensor(digit_triples))


# Inception Score


def test_uniform_predictions_score_one():
    assert inception_score(torch.full((500, 10), 0.1)) == pytest.approx(1.0, abs=1e-12)


def test_identical_confident_predictions_score_one():
    assert inception_score(one_hot([3] * 200)) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 10, 37])
def test_even_confident_predictions_score_k(k):
    probabilities = one_hot(torch.arange(20 * k) % k, k)
    assert inception_score(probabilities) == pytest.approx(k, rel=1e-12)


def test_score_of_mixed_predictions():
    """Half one-hot on class 0, half [0.5, 0.5]: p(y) = (3/4, 1/4) and E KL = 3/4 · log(4/3)."""
    probabilities = torch.cat([one_hot([0] * 50, 2), torch.full((50, 2), 0.5)])
    assert inception_score(probabilities) == pytest.approx((4 / 3) ** 0.75, rel=1e-12)


def test_splits_average_the_parts():
    """The first half all predicts class 0 (score 1), the second spreads over two classes (score 2)."""
    probabilities = one_hot([0] * 100 + [0, 1] * 50, 2)
    assert inception_score(probabilities, splits=2) == pytest.approx(1.5, rel=1e-12)
    assert inception_score(probabilities, splits=1) == pytest.approx(inception_score(probabilities), rel=0)


def test_even_predictions_score_k_in_every_split():
    probabilities = one_hot(torch.arange(1000) % 10)
    assert inception_score(probabilities, splits=4) == pytest.approx(10.0, rel=1e-12)


def test_row_sum_within_tolerance_is_accepted():
    probabilities = torch.full((10, 4), 0.25 + 1e-4)
    assert inception_score(probabilities) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        (torch.full((10,), 0.1), "must have shape \\(n, K\\), got \\(10,\\)"),
        (torch.full((2, 5, 10), 0.1), "must have shape \\(n, K\\)"),
        ([[0.5, 0.5]], "must have shape \\(n, K\\), got list"),
        (torch.ones(4, 1, dtype=torch.int64), "floating point tensor, got torch.int64"),
        (torch.zeros(0, 10), "is empty"),
        (torch.tensor([[1.5, -0.5]]), "non-negative, got a minimum of -0.5"),
        (torch.tensor([[0.5, 0.4]]), "sum to 1 within 0.001, but one is off by 0.1"),
        (torch.tensor([[0.5, 0.5], [0.2, 0.9]]), "off by 0.1"),
        (torch.tensor([[math.nan, 1.0]]), "NaN or infinite"),
        (torch.tensor([[math.inf, 0.0]]), "NaN or infinite"),
    ],
)
def test_invalid_probabilities_raise(probabilities, message):
    with pytest.raises(ValueError, match=message):
        inception_score(probabilities)


@pytest.mark.parametrize("splits", [0, -1, 11, 1.5, True])
def test_invalid_splits_raise(splits):
    with pytest.raises(ValueError, match="splits must be an integer in \\[1, n=10\\]"):
        inception_score(torch.full((10, 2), 0.5), splits=splits)


# Class coverage


def test_even_predictions_cover_all_classes():
    coverage = class_coverage(one_hot(torch.arange(1000) % 10))
    assert coverage.classes_covered == 10
    assert coverage.n_classes == 10
    assert coverage.largest_class_share == pytest.approx(0.1, rel=1e-12)
    assert coverage.class_counts == (100,) * 10


def test_class_below_min_share_is_not_covered():
    """Five samples out of 1,000 on class 7 stay under the default 1% threshold."""
    probabilities = one_hot([2] * 995 + [7] * 5)
    coverage = class_coverage(probabilities)
    assert coverage.classes_covered == 1
    assert coverage.largest_class_share == pytest.approx(0.995, rel=1e-12)
    assert coverage.class_counts == (0, 0, 995, 0, 0, 0, 0, 5, 0, 0)
    assert class_coverage(probabilities, min_share=0.005).classes_covered == 2


def test_class_at_exactly_min_share_is_covered():
    assert class_coverage(one_hot([0] * 99 + [1]), min_share=0.01).classes_covered == 2


def test_coverage_counts_the_argmax():
    probabilities = torch.tensor([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    coverage = class_coverage(probabilities)
    assert coverage.class_counts == (1, 2, 1)
    assert coverage.n_classes == 3
    assert coverage.largest_class_share == 0.5


def test_coverage_tie_goes_to_lowest_class():
    assert class_coverage(torch.full((4, 5), 0.2)).class_counts == (4, 0, 0, 0, 0)


@pytest.mark.parametrize("min_share", [0, -0.1, 1.5, True, "1%"])
def test_invalid_min_share_raises(min_share):
    with pytest.raises(ValueError, match="min_share must be a fraction in \\(0, 1\\]"):
        class_coverage(one_hot([0, 1]), min_share=min_share)


def test_coverage_rejects_unnormalised_rows():
    with pytest.raises(ValueError, match="Apply softmax to logits"):
        class_coverage(torch.tensor([[2.0, -1.0, 0.5]]).abs())


# Stacked MNIST


def test_mode_label_is_hundreds_tens_units():
    labels = stacked_mode_labels(stacked_one_hot([[1, 2, 3], [3, 2, 1], [0, 0, 7], [9, 9, 9], [0, 0, 0]]))
    assert labels.tolist() == [123, 321, 7, 999, 0]
    assert labels.dtype == torch.int64


def test_mode_label_uses_argmax_of_each_channel():
    probabilities = torch.full((1, 3, 10), 0.05)
    probabilities[0, 0, 4] = 0.55
    probabilities[0, 1, 0] = 0.55
    probabilities[0, 2, 8] = 0.55
    assert stacked_mode_labels(probabilities).tolist() == [408]


def test_all_digit_triples_cover_1000_modes():
    triples = [[a, b, c] for a in range(10) for b in range(10) for c in range(10)]
    assert stacked_modes(stacked_one_hot(triples)) == 1000


def test_repeated_triple_covers_one_mode():
    assert stacked_modes(stacked_one_hot([[5, 1, 2]] * 300)) == 1


def test_channel_order_distinguishes_modes():
    assert stacked_modes(stacked_one_hot([[1, 2, 3], [3, 2, 1], [2, 1, 3], [1, 2, 3]])) == 3


def test_single_sample_is_enough_for_a_mode():
    triples = [[0, 0, 0]] * 999 + [[4, 4, 4]]
    assert stacked_modes(stacked_one_hot(triples)) == 2


@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        (torch.full((5, 3, 9), 1 / 9), "must have shape \\(n, 3, 10\\), got \\(5, 3, 9\\)"),
        (torch.full((5, 2, 10), 0.1), "must have shape \\(n, 3, 10\\), got \\(5, 2, 10\\)"),
        (torch.full((5, 10), 0.1), "must have shape \\(n, 3, 10\\), got \\(5, 10\\)"),
        (torch.full((5, 3, 10, 1), 0.1), "must have shape \\(n, 3, 10\\)"),
        (torch.zeros(0, 3, 10), "is empty"),
        (torch.full((5, 3, 10), 0.2), "sum to 1 within"),
    ],
)
def test_invalid_stacked_probabilities_raise(probabilities, message):
    with pytest.raises(ValueError, match=message):
        stacked_modes(probabilities)


# Nearest distances


def test_nearest_distances_on_a_line():
    references = torch.tensor([[0.0], [10.0]])
    queries = torch.tensor([[1.0], [7.0], [-2.0], [5.0]])
    assert nearest_distances(queries, references).tolist() == [1.0, 3.0, 2.0, 5.0]


def test_nearest_distances_in_the_plane():
    references = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    queries = torch.tensor([[6.0, 8.0], [0.0, -1.0]])
    assert nearest_distances(queries, references).tolist() == [5.0, 1.0]


@pytest.mark.parametrize("batch", [1, 7, 50, 1024])
def test_batches_match_brute_force(batch):
    generator = torch.Generator().manual_seed(0)
    queries = torch.rand(50, 784, generator=generator)
    references = torch.rand(120, 784, generator=generator)
    expected = (queries.double()[:, None, :] - references.double()[None, :, :]).norm(dim=2).min(dim=1).values
    result = nearest_distances(queries, references, batch=batch)
    assert result.shape == (50,)
    assert result.dtype == torch.float64
    assert torch.allclose(result, expected, rtol=0, atol=1e-9)


def test_copied_reference_has_zero_distance():
    references = torch.rand(300, 784, generator=torch.Generator().manual_seed(1))
    queries = references[[5, 17, 299]].clone()
    assert nearest_distances(queries, references).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("queries", "references", "message"),
    [
        (torch.zeros(4), torch.zeros(3, 4), "queries must have shape \\(n, d\\), got \\(4,\\)"),
        (torch.zeros(2, 4), torch.zeros(3, 2, 2), "references must have shape \\(n, d\\), got \\(3, 2, 2\\)"),
        (torch.zeros(0, 4), torch.zeros(3, 4), "queries is empty"),
        (torch.zeros(2, 4), torch.zeros(0, 4), "references is empty"),
        (torch.zeros(2, 4), torch.zeros(3, 5), "same dimension d, got 4 and 5"),
        (torch.tensor([[0.0, math.nan]]), torch.zeros(3, 2), "queries contains NaN or infinite values"),
        (torch.zeros(2, 2), torch.tensor([[math.inf, 0.0]]), "references contains NaN or infinite values"),
    ],
)
def test_invalid_points_raise(queries, references, message):
    with pytest.raises(ValueError, match=message):
        nearest_distances(queries, references)


@pytest.mark.parametrize("batch", [0, -5, 2.0, True])
def test_invalid_batch_raises(batch):
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        nearest_distances(torch.zeros(2, 3), torch.zeros(2, 3), batch=batch)


# Interpolation smoothness


def test_even_steps_score_one():
    generator = torch.Generator().manual_seed(0)
    start, end = torch.rand(784, generator=generator), torch.rand(784, generator=generator)
    weights = torch.linspace(0, 1, 10).unsqueeze(1)
    row = (1 - weights) * start + weights * end
    assert interpolation_smoothness(row) == pytest.approx(1.0, rel=1e-5)


def test_one_jump_gives_max_over_mean():
    """Steps 1, 1, 1, 10: the mean step is 13/4, so the ratio is 40/13."""
    row = torch.tensor([[0.0], [1.0], [2.0], [3.0], [13.0]])
    assert interpolation_smoothness(row) == pytest.approx(40 / 13, rel=1e-12)


def test_single_step_change_scores_steps_minus_one():
    row = torch.zeros(8, 784)
    row[5:] = 1.0
    assert interpolation_smoothness(row) == pytest.approx(7.0, rel=1e-12)


def test_image_rows_are_flattened():
    row = torch.rand(6, 28, 28, generator=torch.Generator().manual_seed(2))
    assert interpolation_smoothness(row) == interpolation_smoothness(row.reshape(6, 784))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (torch.zeros(2, 784), "at least 3 images to compare two steps, got 2"),
        (torch.zeros(0, 784), "at least 3 images"),
        (torch.arange(5.0), "must have shape \\(steps, d\\), got \\(5,\\)"),
        (torch.ones(5, 784), "mean step between neighbouring images is 0.0"),
        (torch.tensor([[0.0], [1.0], [math.nan]]), "row contains NaN or infinite values"),
    ],
)
def test_invalid_row_raises(row, message):
    with pytest.raises(ValueError, match=message):
        interpolation_smoothness(row)
