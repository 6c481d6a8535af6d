"""Layout arithmetic: leaves per piece, cut-and-stack order, stack padding, duplex back slots."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imposition import (
    Duplex,
    Layout,
    LayoutError,
    PieceTooLong,
    Scheme,
    SheetSize,
    cut_and_stack,
    plan_leaves,
    unstack,
)
from imposition.layout import BLANK, Leaf

page_counts = st.lists(st.integers(1, 6), min_size=1, max_size=40)


def leaf_pieces(counts: list[int], duplexed: bool = False) -> list[int]:
    return [leaf.piece for leaf in plan_leaves(counts, duplexed)]


def test_reference_example_eleven_pages_two_up():
    """REFERENCE.md: 11 pages 2-up in one stack → sheets [0,6], [1,7], …, [5, blank]."""
    plan = cut_and_stack([0] * 11, n_up=2, depth=100)
    assert plan.sheets == ((0, 6), (1, 7), (2, 8), (3, 9), (4, 10), (5, BLANK))
    assert plan.stacks == ((0, 6),)


def test_stacks_close_on_piece_boundaries():
    """Pieces of 4, 4 and 3 leaves at depth 5 (10 leaves a stack): the third piece opens a new stack."""
    plan = cut_and_stack([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2], n_up=2, depth=5)
    assert plan.sheets == ((0, 4), (1, 5), (2, 6), (3, 7), (8, 10), (9, BLANK))
    assert plan.stacks == ((0, 4), (4, 2))


def test_without_padding_stacks_are_full_depth():
    """Without padding every stack but the last holds exactly n_up × depth leaves, pieces straddling them."""
    plan = cut_and_stack([0, 0, 0, 1, 1, 1, 2], n_up=2, depth=2, pad=False)
    assert plan.sheets == ((0, 2), (1, 3), (4, 6), (5, BLANK))
    assert plan.stacks == ((0, 2), (2, 2))


def test_piece_longer_than_a_stack_is_refused_by_name():
    """A piece with more leaves than a stack holds cannot end a stack on its boundary."""
    with pytest.raises(PieceTooLong, match="'P-7' has 5 leaves but a stack holds 4"):
        cut_and_stack([0] * 5, n_up=2, depth=2, piece_names=["P-7"])


def test_duplex_leaves_pair_pages_and_blank_the_odd_back():
    """Duplex: pages 1/2 on leaf 1, page 3 on leaf 2 with a blank back."""
    assert plan_leaves([3], duplexed=True) == [Leaf(0, 1, 2, 0, 1), Leaf(0, 2, 2, 2, BLANK)]


def test_simplex_letter_in_duplex_job_gets_blank_backs():
    """A simplex piece in a duplex job: one page per leaf, every back blank."""
    assert plan_leaves([2, 2], duplexed=True, simplex=[True, False]) == [
        Leaf(0, 1, 2, 0, BLANK),
        Leaf(0, 2, 2, 1, BLANK),
        Leaf(1, 1, 1, 0, 1),
    ]


@pytest.mark.parametrize(
    ("duplex", "expected"),
    [
        (Duplex.TURN, [(1, False), (0, False)]),
        (Duplex.TUMBLE, [(0, True), (1, True)]),
    ],
)
def test_two_up_back_slots(duplex, expected):
    """Work-and-turn mirrors the columns; work-and-tumble keeps them and turns the page 180°."""
    layout = Layout(Scheme.CUT_STACK, SheetSize.A3, duplex)
    assert [layout.back_slot(slot) for slot in (0, 1)] == expected


def test_scheme_refuses_a_sheet_it_cannot_use():
    """2-up cut and stack on A4 is refused, naming the sheets it takes."""
    with pytest.raises(LayoutError, match="use A3, SRA3"):
        Layout(Scheme.CUT_STACK, SheetSize.A4)


@settings(max_examples=150, deadline=None)
@given(page_counts, st.integers(1, 8), st.booleans(), st.booleans())
def test_cut_and_stack_gives_every_leaf_back_in_order(counts, depth, pad, duplexed):
    """Property: cutting each stack and piling pile 0 on pile 1 … returns every leaf once, in order."""
    pieces = leaf_pieces(counts, duplexed)
    if pad and max(pieces.count(p) for p in set(pieces)) > 2 * depth:
        return
    plan = cut_and_stack(pieces, n_up=2, depth=depth, pad=pad)
    assert unstack(plan) == list(range(len(pieces)))


@settings(max_examples=150, deadline=None)
@given(page_counts, st.integers(3, 8))
def test_padded_stacks_hold_whole_pieces(counts, depth):
    """Property: with padding, no piece has leaves in two stacks."""
    pieces = leaf_pieces(counts)
    if max(counts) > 2 * depth:
        return
    plan = cut_and_stack(pieces, n_up=2, depth=depth)
    stack_of = {}
    for number, (first, count) in enumerate(plan.stacks):
        for row in plan.sheets[first : first + count]:
            for leaf in row:
                if leaf != BLANK:
                    stack_of.setdefault(pieces[leaf], set()).add(number)
    assert all(len(stacks) == 1 for stacks in stack_of.values())


@settings(max_examples=150, deadline=None)
@given(page_counts, st.integers(1, 8), st.booleans())
def test_no_sheet_is_wholly_blank_and_no_stack_too_deep(counts, depth, pad):
    """Property: every sheet carries a leaf in slot 0, and no stack is deeper than the stack depth."""
    pieces = leaf_pieces(counts)
    if pad and max(counts) > 2 * depth:
        return
    plan = cut_and_stack(pieces, n_up=2, depth=depth, pad=pad)
    assert all(row[0] != BLANK for row in plan.sheets)
    assert all(count <= depth for _, count in plan.stacks)
