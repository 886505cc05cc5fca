"""Assignment algorithms for siblings that may match in any order (``ordered=False``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["disjoint_assignment", "hungarian", "lazy_max_matching", "max_matching"]


def max_matching(adjacency: list[list[int]], n_right: int) -> list[int]:
    """Maximum bipartite matching (augmenting paths); the right vertex of each left one, or -1."""
    match_left = [-1] * len(adjacency)
    match_right = [-1] * n_right
    for start in range(len(adjacency)):
        _augment(start, adjacency.__getitem__, match_left, match_right)
    return match_left


def _augment(
    start: int,
    neighbours: Callable[[int], list[int]],
    match_left: list[int],
    match_right: list[int],
) -> None:
    """Match ``start`` along the shortest augmenting path, if there is one (breadth first)."""
    came_from: dict[int, int] = {}
    frontier = [start]
    found = -1
    while frontier and found < 0:
        following = []
        for left in frontier:
            for right in neighbours(left):
                if right in came_from:
                    continue
                came_from[right] = left
                if match_right[right] < 0:
                    found = right
                    break
                following.append(match_right[right])
            if found >= 0:
                break
        frontier = following
    right = found
    while right >= 0:
        left = came_from[right]
        previous = match_left[left]
        match_left[left] = right
        match_right[right] = left
        right = previous


def lazy_max_matching(
    pools: Sequence[list[int]], fits: Callable[[int, int], bool], n_right: int, budget: int
) -> tuple[list[int], bool]:
    """:func:`max_matching` of the edges ``fits(left, right)`` for ``right`` in ``pools[left]``.

    The same matching as ``max_matching([[r for r in pools[l] if fits(l, r)] ...])``,
    asking ``fits`` far less: each left vertex first takes the first right
    vertex of its pool (ascending) that is free and fits, which is what the
    breadth-first search would find first, skipping the taken ones without
    asking; only a left vertex that finds none gets its whole adjacency and
    the search for an augmenting path. Left vertices sharing one pool (the
    same list object) share the count of its taken head.

    Args:
        pools: Per left vertex, the right vertices it may fit, ascending.
        fits: Whether an edge joins a left and a right vertex.
        n_right: The number of right vertices.
        budget: How many times ``fits`` may be asked; past it, the search stops
            and the left vertices not yet matched stay unmatched.

    Returns:
        The right vertex of each left one (or -1), and whether the budget ran out.
    """
    match_left = [-1] * len(pools)
    match_right = [-1] * n_right
    adjacency: dict[int, list[int]] = {}
    taken_head: dict[int, int] = {}  # id(pool) -> how many of its first entries are taken
    asked = 0

    def neighbours(left: int) -> list[int]:
        nonlocal asked
        found = adjacency.get(left)
        if found is None:
            asked += len(pools[left])
            found = adjacency[left] = [right for right in pools[left] if fits(left, right)]
        return found

    for start, pool in enumerate(pools):
        if asked > budget:
            return match_left, True
        head = taken_head.get(id(pool), 0)
        while head < len(pool) and match_right[pool[head]] >= 0:
            head += 1
        taken_head[id(pool)] = head
        found = -1
        for position in range(head, len(pool)):
            right = pool[position]
            if match_right[right] < 0:
                asked += 1
                if fits(start, right):
                    found = right
                    break
        if found >= 0:
            match_left[start] = found
            match_right[found] = start
            continue
        # No free vertex fits: the search for an augmenting path, as max_matching.
        _augment(start, neighbours, match_left, match_right)
    return match_left, False


def hungarian(cost: list[list[int]]) -> list[int]:
    """Minimum-cost assignment of every row to a distinct column (rows <= columns)."""
    n_rows, n_cols = len(cost), len(cost[0])
    infinity = math.inf
    u = [0.0] * (n_rows + 1)
    v = [0.0] * (n_cols + 1)
    owner = [0] * (n_cols + 1)
    way = [0] * (n_cols + 1)
    for row in range(1, n_rows + 1):
        owner[0] = row
        col0 = 0
        min_v = [infinity] * (n_cols + 1)
        used = [False] * (n_cols + 1)
        while True:
            used[col0] = True
            row0, delta, col1 = owner[col0], infinity, 0
            for col in range(1, n_cols + 1):
                if not used[col]:
                    current = cost[row0 - 1][col - 1] - u[row0] - v[col]
                    if current < min_v[col]:
                        min_v[col], way[col] = current, col0
                    if min_v[col] < delta:
                        delta, col1 = min_v[col], col
            for col in range(n_cols + 1):
                if used[col]:
                    u[owner[col]] += delta
                    v[col] -= delta
                else:
                    min_v[col] -= delta
            col0 = col1
            if owner[col0] == 0:
                break
        while col0:
            col1 = way[col0]
            owner[col0] = owner[col1]
            col0 = col1
    result = [-1] * n_rows
    for col in range(1, n_cols + 1):
        if owner[col]:
            result[owner[col] - 1] = col - 1
    return result


def disjoint_assignment(
    candidates: list[list[int]], ends: Sequence[int], n_spans: int
) -> list[int] | None:
    """Give each node one candidate span, no span inside another's subtree, or None.

    Tries the bipartite relaxation first (which settles the common cases), then
    backtracks over the nodes with the fewest candidates first.
    """
    relaxed = max_matching(candidates, n_spans)
    if -1 in relaxed:
        return None

    def disjoint(a: int, b: int) -> bool:
        return not (a <= b < ends[a] or b <= a < ends[b])

    if all(disjoint(a, b) for i, a in enumerate(relaxed) for b in relaxed[i + 1 :]):
        return relaxed
    order = sorted(range(len(candidates)), key=lambda i: len(candidates[i]))
    picks = [-1] * len(candidates)

    def search(depth: int) -> bool:
        if depth == len(order):
            return True
        node_index = order[depth]
        taken = [picks[i] for i in order[:depth]]
        for cand in candidates[node_index]:
            if all(disjoint(cand, other) for other in taken):
                picks[node_index] = cand
                if search(depth + 1):
                    return True
        picks[node_index] = -1
        return False

    return picks if search(0) else None
