"""Cut order: the cutter/stacker gives the leaves back in exactly the order imposition dealt them, and its
faults lose or misorder exactly the sheets they name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imposition import A4_HEIGHT, A4_WIDTH, Layout, Scheme, SheetSize, cut_and_stack, plan_leaves, unstack
from imposition.layout import BLANK
from inserters import Backs, CutFaults, CutSpec, cut_order


def spec_for(plan, n_up: int = 2, backs: Backs = Backs.NONE) -> CutSpec:
    """The cut spec of an imposition sheet plan: leaves per stack, A3 with two A4 slots."""
    layout = Layout(Scheme.CUT_STACK, SheetSize.A3)
    leaves = tuple((r.x, r.y, r.w, r.h) for r in (layout.slot_rect(k) for k in range(n_up)))
    counts = tuple(
        sum(leaf != BLANK for row in plan.sheets[first : first + depth] for leaf in row)
        for first, depth in plan.stacks
    )
    return CutSpec(SheetSize.A3.points, leaves, counts, backs)


def leaf_order(plan, cut) -> list[int]:
    """The imposed leaf index of every (sheet, slot) the cutter gave out."""
    return [plan.sheets[sheet][slot] for sheet, slot in cut.leaves]


def pieces_of(counts: list[int]) -> list[int]:
    return [leaf.piece for leaf in plan_leaves(counts, duplexed=False)]


def test_reference_example_eleven_leaves_two_up():
    """REFERENCE.md's 11 leaves 2-up ([0,6] [1,7] … [5,–]) come out as pile 0 (sheets 0–5), then pile 1."""
    plan = cut_and_stack([0] * 11, n_up=2, depth=100)
    cut = cut_order(spec_for(plan))
    assert cut.leaves == tuple((s, 0) for s in range(6)) + tuple((s, 1) for s in range(5))
    assert leaf_order(plan, cut) == list(range(11))


@pytest.mark.parametrize(
    "counts, depth, pad",
    [
        ([1], 1, True),
        ([3, 1, 2, 4, 1], 2, True),
        ([3, 1, 2, 4, 1], 3, True),
        ([6, 6, 6], 3, True),
        ([1] * 9, 2, True),
        ([2, 5, 1, 1, 3, 2, 4], 4, True),
        ([3, 3, 3, 1], 2, False),
        ([5, 1, 4], 3, False),
    ],
)
def test_cut_order_is_the_inverse_of_cut_and_stack(counts, depth, pad):
    """Page counts and stack depths with padded and unpadded stacks: the cut gives leaves 0…L−1 in order."""
    plan = cut_and_stack(pieces_of(counts), n_up=2, depth=depth, pad=pad)
    cut = cut_order(spec_for(plan))
    assert leaf_order(plan, cut) == list(range(sum(counts)))
    assert spec_for(plan).depths == tuple(d for _, d in plan.stacks)


@given(st.lists(st.integers(1, 6), min_size=1, max_size=40), st.integers(3, 12), st.booleans())
def test_cut_order_agrees_with_unstack(counts, depth, pad):
    """For any job, the cutter's order is imposition's own unstack simulation, blanks taken out."""
    plan = cut_and_stack(pieces_of(counts), n_up=2, depth=depth, pad=pad)
    assert leaf_order(plan, cut_order(spec_for(plan))) == unstack(plan) == list(range(sum(counts)))


def test_a_destroyed_sheet_loses_both_its_leaves_and_nothing_else():
    """Sheet 2 of [0,6] [1,7] [2,8] …: leaves 2 and 8 never come out, the rest keep their order."""
    plan = cut_and_stack([0] * 11, n_up=2, depth=100)
    cut = cut_order(spec_for(plan), destroyed={2})
    assert leaf_order(plan, cut) == [0, 1, 3, 4, 5, 6, 7, 9, 10]
    assert cut.destroyed == (2,)


def test_a_misfed_sheet_trades_places_with_the_next_in_every_pile():
    """Sheet 1 misfed lands after sheet 2: leaves 1↔2 and 7↔8 come out swapped."""
    plan = cut_and_stack([0] * 11, n_up=2, depth=100)
    cut = cut_order(spec_for(plan), misfed={1})
    assert leaf_order(plan, cut) == [0, 2, 1, 3, 4, 5, 6, 8, 7, 9, 10]
    assert cut.misfed == (1,)


def test_a_misfed_last_sheet_of_a_stack_trades_with_the_one_before():
    """The last sheet of a stack has no sheet after it in the stack: it lands before the previous one."""
    plan = cut_and_stack([0] * 4, n_up=2, depth=100)  # [0,2] [1,3]
    assert leaf_order(plan, cut_order(spec_for(plan), misfed={1})) == [1, 0, 3, 2]


def test_a_shortfall_from_the_press_is_taken_off_the_end():
    """Two of six sheets never arrived: the cutter cuts what it has, as if the last two were missing."""
    plan = cut_and_stack([0] * 11, n_up=2, depth=100)
    assert leaf_order(plan, cut_order(spec_for(plan), received=4)) == [0, 1, 2, 3, 6, 7, 8, 9]


def test_lifetime_faults_fall_on_the_sheets_with_those_numbers():
    """destroy_at / misfeed_at count the cutter's lifetime sheets: a cut starting at 11 suffers 12 and 14
    only."""
    faults = CutFaults(destroy_at={12, 30}, misfeed_at={14, 2})
    assert faults.plan("R1", first_lifetime=11, sheets=5) == (frozenset({1}), frozenset({3}))


def test_random_faults_repeat_for_the_same_cut_and_seed():
    """Rates are drawn from (seed, cut id): a restarted cut suffers the same faults, another cut others."""
    faults = CutFaults(destroy_rate=0.2, misfeed_rate=0.2, seed=7)
    first = faults.plan("R1", 1, 200)
    assert first == faults.plan("R1", 1, 200)
    assert first != faults.plan("R2", 1, 200)
    assert 10 < len(first[0]) < 70 and not first[0] & first[1]


def test_backs_sit_behind_their_fronts():
    """Work and turn mirrors a leaf left–right on the back; work and tumble mirrors it top–bottom."""
    sheet = (400.0, 300.0)
    leaves = ((10.0, 20.0, 100.0, 50.0),)
    assert CutSpec(sheet, leaves, (1,), Backs.TURN).back_rect(0) == (290.0, 20.0, 100.0, 50.0)
    assert CutSpec(sheet, leaves, (1,), Backs.TUMBLE).back_rect(0) == (10.0, 230.0, 100.0, 50.0)


def test_spec_round_trips_through_json():
    """The spec the plant writes at imposition is the spec the cutter reads."""
    spec = CutSpec(
        SheetSize.A3.points,
        ((0.0, 0.0, A4_WIDTH, A4_HEIGHT), (A4_WIDTH, 0.0, A4_WIDTH, A4_HEIGHT)),
        (12, 7),
        Backs.TUMBLE,
    )
    assert CutSpec.from_json(spec.to_json()) == spec
    assert (spec.sheet_count, spec.leaf_count, spec.sides) == (10, 19, 2)


@pytest.mark.parametrize(
    "sheet, leaves, stacks, problem",
    [
        ((100.0, 100.0), ((0.0, 0.0, 120.0, 50.0),), (1,), "does not lie on"),
        ((100.0, 100.0), (), (1,), "at least one leaf"),
        ((100.0, 100.0), ((0.0, 0.0, 50.0, 50.0),), (0,), "at least 1"),
        ((0.0, 100.0), ((0.0, 0.0, 50.0, 50.0),), (1,), "both > 0"),
    ],
)
def test_impossible_specs_are_refused(sheet, leaves, stacks, problem):
    """A leaf off the sheet, no leaves, an empty stack or a sheet without area is refused with the reason."""
    with pytest.raises(ValueError, match=problem):
        CutSpec(sheet, leaves, stacks)
