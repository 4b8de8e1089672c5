"""Scored candidate pairs -> a one-to-one alignment of units, the rename map, call-graph
evidence, and the roll-ups to file pairs and one repo similarity.

Why one-to-one: a unit of B copied from one unit of A should be explained by that unit, not
by every look-alike in A. A maximum-weight bipartite matching (networkx) picks, across the
whole repository, the assignment that explains the most tokens. Units of B that stay
unmatched but are still well explained by an already-matched unit of A (a helper split out
of a long original, a function duplicated in the suspect) are kept as `one_to_one=False`.

Why a rename map across pairs: a consistent renaming, the same original name mapped to the
same new name in many independent pairs, is what deliberate disguise leaves behind; two
honest implementations agree on no such map.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

from plagiarism.align import (
    Alignment,
    RenameCache,
    aligned_names,
    anchor_set,
    best_names,
    content_anchors,
    distinct_anchors,
    distinct_grams,
    regions,
    renames_of,
    self_facing_names,
    string_agreement,
)
from plagiarism.config import Settings
from plagiarism.model import FilePair, Pair, Rename, Unit, UnitRef

# Components of the candidate graph larger than this are matched greedily (heaviest edge
# first): the blossom algorithm is cubic, and such components are idioms, not copies.
MAX_EXACT_COMPONENT = 150
# Components are matched by dynamic programming over the subsets of their smaller side
# while 2**(that side) x edges stays under this (~15 ms in Python); larger ones by
# networkx's blossom (~5 ms, after an import of ~0.15 s). At full size the transformers
# benchmark's largest are 10 x 14 units with 114 edges (12 ms).
MAX_SUBSET_WORK = 1 << 17
# Edge weights are compared in units of 2**-WEIGHT_BITS token: shares of A covered that
# differ by less are a tie, decided by the stated order of pairs (see `_contested`).
WEIGHT_BITS = 20
# Per contested unit of B, the structural tie-break looks at this many strongest origins.
MAX_TIE_OPTIONS = 8


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate pair (unit indexes on each side) with its alignment."""

    a: int
    b: int
    alignment: Alignment
    context: bool = False  # scored on context tiles: may be shown, never a finding
    # B's unit is house style: code both sides write again and again (see
    # `pipeline.house_style`); it may be shown, never a finding, unless paired at its own
    # path (see `build`).
    house_style: bool = False


def unit_ref(unit: Unit) -> UnitRef:
    return UnitRef(
        path=unit.path,
        name=unit.qualname,
        kind=unit.kind,
        start_line=unit.start_line,
        end_line=unit.end_line,
        tokens=len(unit.tokens),
        file_sha256=unit.file_sha256,
    )


def one_to_one(
    scored: Sequence[Scored],
    min_score: float,
    bonus: dict[tuple[int, int], float] | None = None,
    fixed: frozenset[tuple[int, int]] = frozenset(),
    same_path: Callable[[int, int], bool] = lambda a, b: False,
) -> dict[int, Scored]:
    """B index -> the chosen pair, maximising the total matched tokens (plus `bonus`);
    equally heavy choices go to pairs at the same path, then in A's order (`_contested`).

    `fixed` pairs (a, b) are taken first and their units leave the graph: a unit that is
    the same code at the same path and name on both sides has no better partner, and
    settling those first keeps the graph of a repository compared with its next version
    (thousands of unchanged twins) small.
    """
    chosen: dict[int, Scored] = {}
    taken_a: set[int] = set()
    for s in scored:
        if (s.a, s.b) in fixed and s.b not in chosen and s.a not in taken_a:
            chosen[s.b] = s
            taken_a.add(s.a)
    by_edge: dict[tuple[int, int], float] = {}
    scored_of: dict[tuple[int, int], Scored] = {}
    for s in scored:
        if s.alignment.score < min_score or s.alignment.matched == 0:
            continue
        if s.b in chosen or s.a in taken_a:
            continue
        key = (s.a, s.b)
        scored_of[key] = s
        # Matched tokens first, then the share of A covered: of two originals that explain
        # the same tokens, the one that is itself mostly covered is the better origin.
        weight = s.alignment.matched + s.alignment.coverage_a
        if bonus:
            weight += bonus.get(key, 0.0)
        by_edge[key] = weight
    for edges in _components(by_edge):
        if len(edges) == 1:
            picked = edges
        else:
            picked = _contested(edges, by_edge, same_path)
        for key in picked:
            chosen[key[1]] = scored_of[key]
    return chosen


def _components(by_edge: dict[tuple[int, int], float]) -> list[list[tuple[int, int]]]:
    """The edges (a, b) of each connected component, in insertion order (union-find: most
    components of a real run are one edge, and need no graph library at all)."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = x = parent[parent[x]]
        return x

    for a, b in by_edge:
        ra, rb = root(a), root(-1 - b)
        if ra != rb:
            parent[ra] = rb
    groups: dict[int, list[tuple[int, int]]] = {}
    for key in by_edge:
        groups.setdefault(root(key[0]), []).append(key)
    return list(groups.values())


def _contested(
    edges: list[tuple[int, int]],
    by_edge: dict[tuple[int, int], float],
    same_path: Callable[[int, int], bool],
) -> list[tuple[int, int]]:
    """The matching of one component with two or more edges: the heaviest, exact up to
    MAX_EXACT_COMPONENT nodes, greedy beyond.

    Equally heavy matchings are common (one B config class against three identical ones in
    A), and the report must say which origin it shows and why, the same in every run. So the
    exact matching is unique by construction: pairs are ranked (same path first, then A's
    order, then B's), and among matchings of equal weight the one holding the best-ranked
    pair wins, then the next. Integer keys carry that order below the weight: weight in
    units of 2**-WEIGHT_BITS token, then one bit per pair, best rank highest. Every exact
    solver therefore returns the same matching; a small one is solved here (the graph
    library's import alone costs more than every component of a typical run)."""
    side_a = sorted({a for a, _ in edges})
    side_b = sorted({b for _, b in edges})
    ranked = sorted(edges, key=lambda e: (not same_path(*e), e))
    if len(side_a) + len(side_b) > MAX_EXACT_COMPONENT:
        return _greedy(ranked, by_edge)
    n = len(ranked)
    key = {
        e: (round(by_edge[e] * (1 << WEIGHT_BITS)) << n) | (1 << (n - 1 - r))
        for r, e in enumerate(ranked)
    }
    if (1 << min(len(side_a), len(side_b))) * n <= MAX_SUBSET_WORK:
        return _heaviest_by_subsets(key, side_a, side_b)
    return _heaviest_by_blossom(key)


def _heaviest_by_subsets(
    key: dict[tuple[int, int], int], side_a: list[int], side_b: list[int]
) -> list[tuple[int, int]]:
    """The maximum-key matching, by dynamic programming over the subsets of the smaller
    side that are already matched, one node of the larger side at a time."""
    a_small = len(side_a) <= len(side_b)
    small, large = (side_a, side_b) if a_small else (side_b, side_a)
    bit = {node: 1 << i for i, node in enumerate(small)}
    options: dict[int, list[tuple[int, int, tuple[int, int]]]] = defaultdict(list)
    for (a, b), k in key.items():
        s, t = (a, b) if a_small else (b, a)
        options[t].append((bit[s], k, (a, b)))
    # Matched subset of the small side -> (total key, pairs); keys are distinct powers of
    # two below the weights, so no two matchings share a total and the best is unique.
    best: dict[int, tuple[int, tuple[tuple[int, int], ...]]] = {0: (0, ())}
    for node in large:
        step = dict(best)
        for mask, (total, pairs) in best.items():
            for b_bit, k, pair in options[node]:
                if mask & b_bit:
                    continue
                grown = mask | b_bit
                held = step.get(grown)
                if held is None or held[0] < total + k:
                    step[grown] = (total + k, (*pairs, pair))
        best = step
    return list(max(best.values())[1])


def _heaviest_by_blossom(key: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
    import networkx as nx

    graph = nx.Graph()
    # Integer weights: networkx then computes in integers only, so the unique maximum is
    # found exactly. Nodes: A is i, B is -1 - j.
    for (a, b), k in key.items():
        graph.add_edge(a, -1 - b, weight=k)
    pairs = nx.max_weight_matching(graph)
    return sorted((u, -1 - v) if u >= 0 else (v, -1 - u) for u, v in pairs)


def _greedy(
    ranked: list[tuple[int, int]], by_edge: dict[tuple[int, int], float]
) -> list[tuple[int, int]]:
    """Heaviest pair first, equal weights in the stated order of `ranked` (a stable sort)."""
    taken_a: set[int] = set()
    taken_b: set[int] = set()
    out = []
    for a, b in sorted(ranked, key=lambda e: -by_edge[e]):
        if a in taken_a or b in taken_b:
            continue
        taken_a.add(a)
        taken_b.add(b)
        out.append((a, b))
    return out


def _members(units: Sequence[Unit]) -> dict[int, list[int]]:
    """Unit index -> indexes of the units nested directly in it (a class's methods)."""
    index = {(u.path, u.qualname): i for i, u in enumerate(units)}
    out: dict[int, list[int]] = defaultdict(list)
    for i, u in enumerate(units):
        if "." in u.qualname:
            parent = index.get((u.path, u.qualname.rsplit(".", 1)[0]))
            if parent is not None:
                out[parent].append(i)
    return out


class _Names:
    """Aligned names per scored pair, computed once: the tie-break and the reported pairs
    both need them, and a transformers-sized run has ~30,000 pairs."""

    def __init__(self, units_a: Sequence[Unit], units_b: Sequence[Unit]) -> None:
        self.units_a, self.units_b = units_a, units_b
        # Keyed by (a, b, context): a pair is scored once, plus at most once on its context
        # tiles, so that identifies the tiles without hashing them.
        self._memo: dict[tuple[int, int, bool], Counter[tuple[str, str]]] = {}
        self._best: dict[tuple[int, int, bool], dict[str, tuple[str, int]]] = {}

    def __call__(self, s: Scored) -> Counter[tuple[str, str]]:
        key = (s.a, s.b, s.context)
        got = self._memo.get(key)
        if got is None:
            ua, ub = self.units_a[s.a], self.units_b[s.b]
            got = self._memo[key] = aligned_names(ua.tokens, ub.tokens, s.alignment.tiles)
        return got

    def best(self, s: Scored) -> dict[str, tuple[str, int]]:
        key = (s.a, s.b, s.context)
        got = self._best.get(key)
        if got is None:
            ua, ub = self.units_a[s.a], self.units_b[s.b]
            same = self_facing_names(ua.tokens, ub.tokens, s.alignment.tiles)
            # Most pairs between two versions are one stream facing itself: each name's best
            # partner is itself, without the pair counts (~40,000 pairs at full size).
            if same is not None:
                got = {n: (n, c) for n, c in same.items()}
            else:
                got = best_names(self(s))
            self._best[key] = got
        return got


def structural_bonus(
    scored: Sequence[Scored],
    chosen: dict[int, Scored],
    units_a: Sequence[Unit],
    units_b: Sequence[Unit],
    min_score: float,
    fixed: frozenset[tuple[int, int]] = frozenset(),
    names: _Names | None = None,
    same_path: Callable[[int, int], bool] = lambda a, b: False,
) -> dict[tuple[int, int], float]:
    """Evidence beyond a pair's own tokens, for B units with several plausible origins.

    Two look-alike units (every `class X(nn.Module)` header, two placeholder-building
    methods that differ only in which attributes they read) are told apart by what
    surrounds them in a first matching: the pair whose members and parent are matched to
    each other, and whose aligned names agree with the renaming seen across the other
    pairs, is the right one.
    """
    contested: dict[int, list[Scored]] = defaultdict(list)
    for s in scored:
        if s.alignment.score >= min_score and s.alignment.matched:
            contested[s.b].append(s)
    # A unit of B settled as a same-place twin needs no tie-break.
    settled = {b for _, b in fixed}
    contested = {b: ss for b, ss in contested.items() if len(ss) > 1 and b not in settled}
    if not contested:
        return {}
    names = names or _Names(units_a, units_b)
    partner = {b: s.a for b, s in chosen.items()}
    # The renaming is learnt from the pairs that had one origin only: a contested pair
    # chosen wrongly in the first round (two twin methods paired crosswise) would otherwise
    # vote for its own mistake.
    faced: list[tuple[str, str]] = []
    for s in chosen.values():
        if s.b in contested:
            continue
        best = names.best(s)
        faced.extend(zip(best, [nb for nb, _ in best.values()], strict=True))
    # Each A name's most voted B name; on a tie the one voted for first. (Counted in one
    # pass in C: name by name in nested Counters this was ~0.3 s at full size.)
    global_map: dict[str, str] = {}
    top: dict[str, int] = {}
    for (na, nb), count in Counter(faced).items():
        if count > top.get(na, 0):
            top[na] = count
            global_map[na] = nb
    members_a, members_b = _members(units_a), _members(units_b)
    parent_a = {c: p for p, cs in members_a.items() for c in cs}
    parent_b = {c: p for p, cs in members_b.items() for c in cs}
    bonus: dict[tuple[int, int], float] = {}
    for b, options in contested.items():
        # Only the strongest few can win: a bonus is worth a few statements at most, and a
        # method repeated in fifty files of A should not cost fifty name comparisons.
        # (In the matching's order of preference among equals: same path, then A's order.)
        strongest = sorted(
            options, key=lambda s: (-s.alignment.matched, not same_path(s.a, b), s.a)
        )[:MAX_TIE_OPTIONS]
        for s in strongest:
            agree = 0
            for (na, nb), count in names(s).items():
                mapped = global_map.get(na)
                # A name no unambiguous pair renamed is expected to stay as it is: a copy
                # that kept its names is told from a twin by them.
                if mapped == nb or (mapped is None and na == nb):
                    agree += count
                elif mapped is not None:
                    agree -= count
            members = set(members_a.get(s.a, ()))
            structure = sum(1 for c in members_b.get(b, ()) if partner.get(c) in members)
            pb = parent_b.get(b)
            if pb is not None and partner.get(pb) == parent_a.get(s.a) is not None:
                structure += 1
            # Weighted well below one matched token per unit of evidence... except that a
            # matched member or parent is worth a short statement, and names count per use.
            bonus[(s.a, b)] = 0.5 * agree + 5.0 * structure
    return bonus


def call_graph(units: Sequence[Unit]) -> dict[int, set[int]]:
    """Unit index -> unit indexes it may call, resolved by simple name within the side.
    (A dict of sets: only successors are ever asked, and building a networkx DiGraph of a
    transformers-sized side cost a second.)"""
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, unit in enumerate(units):
        if unit.kind != "module":
            by_name[unit.qualname.rsplit(".", 1)[-1]].append(i)
    graph: dict[int, set[int]] = {}
    for i, unit in enumerate(units):
        for name in unit.calls:
            targets = by_name.get(name, ())
            if len(targets) <= 3:  # a name defined everywhere (`forward`) says nothing
                for t in targets:
                    if t != i:
                        graph.setdefault(i, set()).add(t)
    return graph


def call_support(
    pairs: dict[int, int], graph_a: dict[int, set[int]], graph_b: dict[int, set[int]]
) -> dict[int, int]:
    """For each matched b: how many of its callees are matched to callees of its partner."""
    out = {}
    for b, a in pairs.items():
        callees_a = graph_a.get(a, set())
        out[b] = sum(1 for cb in graph_b.get(b, ()) if pairs.get(cb) in callees_a)
    return out


def small_copy(ua: Unit, ub: Unit, alignment: Alignment, settings: Settings) -> bool:
    """A unit under `min_unit_tokens` counts on its own only as a whole copy: the same code
    as its partner, names aside, at least two minimum runs long, with `small_unit_anchors`
    distinct anchors. Idioms carry less: `class X(nn.Module)`, `return self.fc(x)`, a
    property multiplying two attributes, `return torch.cat([x, y], dim=-1)`."""
    syms = ub.tokens.syms
    return (
        len(syms) >= 2 * settings.min_match
        and ua.tokens.syms == syms
        and alignment.matched == len(syms)
        and distinct_anchors(syms) >= settings.small_unit_anchors
    )


def piecemeal(ub: Unit, alignment: Alignment, settings: Settings) -> bool:
    """A unit of B under twice `min_unit_tokens`, matched in part, on one run of at least
    `min_match` tokens (but under two) and shorter pieces around it. One idiom and the
    bridges to it cover most of a 30-50 token function in independent code: the canonical
    parameter init, the decorator wrapper, an `if`/`elif`/`raise` chain of options, a
    reshape before attention. Alone in its two files such a pair is no finding; beside
    another finding of the same files (a module copied, a helper split off a copied
    function) it still is. A copy with one statement changed keeps two runs."""
    if len(ub.tokens) >= 2 * settings.min_unit_tokens or alignment.matched >= len(ub.tokens):
        return False
    runs = [t.length for t in alignment.tiles if t.length >= settings.min_match]
    return len(runs) <= 1 and max(runs, default=0) < 2 * settings.min_match


@dataclass(frozen=True, slots=True)
class Matching:
    """What the matching stage hands to the result: pairs, file pairs, renames, coverage."""

    pairs: tuple[Pair, ...]  # reported pairs, strongest first
    file_pairs: tuple[FilePair, ...]
    renames: tuple[Rename, ...]
    matched_tokens_b: int
    tokens_b: int
    # Tokens of A found in B by the reported pairs, each counted once however many B units
    # it explains: a suspect that holds all of a small original inside much code of its own
    # has a low share of B explained, and most of A found.
    matched_tokens_a: int = 0
    tokens_a: int = 0


# Prose strings (help texts, messages) that must all agree, or all differ, to decide a pair
# whose code says little (see `judge`). 2: shared upstream code with one reworded error
# message (`get_2d_sincos_pos_embed_from_grid` in transformers and diffusers) is still found.
MIN_STRINGS = 2
# Share of a repetitive match's aligned names that must be the same on both sides for it to
# be a copy anyway, and how many distinct names that takes (see `judge`).
KEPT_NAMES = 0.8
MIN_KEPT_NAMES = 4
# Matched tokens per distinct k-gram above which a match is repetitive (see
# `Settings.min_distinct_grams`): real code of any length has nearly one gram per token.
REPETITIVE = 0.5
# An original that units of B in this many files fall back on (beyond its one-to-one partner)
# is a template B follows, not a source it copied: diffusers' 88 pipeline `__init__.py` all
# fall back on one lazy-import `__init__` of transformers, house style of one organisation.
# Split helpers and a copied function pasted twice stay within one or two files.
TEMPLATE_FILES = 5


class _Findings:
    """Whether a scored pair is a finding: over the threshold, not scored on context tiles,
    and large enough, or a whole small unit that says enough (see `small_copy`); the
    content, repetition, prose and kept-name rules in `_judge`. Each pair is judged once
    (the pairs loop asks twice), a whole matched unit's grams counted once per unit."""

    def __init__(
        self,
        units_a: Sequence[Unit],
        units_b: Sequence[Unit],
        settings: Settings,
        names: _Names,
    ) -> None:
        self.units_a, self.units_b = units_a, units_b
        self.settings = settings
        self.names = names
        self._verdicts: dict[tuple[int, int, bool], bool] = {}
        self._whole_grams: dict[int, int] = {}  # B unit -> distinct grams of the whole unit

    def __call__(self, s: Scored) -> bool:
        key = (s.a, s.b, s.context)
        got = self._verdicts.get(key)
        if got is None:
            got = self._verdicts[key] = self._judge(s)
        return got

    def _distinct(self, s: Scored) -> int:
        syms = self.units_b[s.b].tokens.syms
        tiles = s.alignment.tiles
        k, need = self.settings.kgram, self.settings.min_distinct_grams
        if len(tiles) == 1 and tiles[0].b == 0 and tiles[0].length == len(syms):
            # A whole unit matched (every twin): counted once per unit, not per pair.
            got = self._whole_grams.get(s.b)
            if got is None:
                got = self._whole_grams[s.b] = distinct_grams(syms, tiles, k, need)
            return got
        return distinct_grams(syms, tiles, k, need)

    def _judge(self, s: Scored) -> bool:
        settings = self.settings
        if s.alignment.score < settings.pair_threshold or s.context:
            return False
        ua, ub = self.units_a[s.a], self.units_b[s.b]
        syms = ub.tokens.syms
        need = settings.min_content_anchors
        if need and content_anchors(syms, s.alignment.tiles, need) < need:
            return False
        if len(syms) < settings.min_unit_tokens:
            return small_copy(ua, ub, s.alignment, settings)
        # Only repetition is held against a pair: a short copy has few grams because it is
        # short, a config class because it says one thing forty times.
        need = settings.min_distinct_grams
        found = self._distinct(s) if need else 0
        repetitive = bool(need) and found < REPETITIVE * s.alignment.matched
        if repetitive or len(syms) < 2 * settings.min_unit_tokens:
            # Where the code says little, its prose decides: help texts and messages all
            # different is two honest option classes, all the same is a copy.
            same, different = string_agreement(ua.tokens, ub.tokens, s.alignment.tiles)
            if different >= MIN_STRINGS and not same:
                return False
            if same >= MIN_STRINGS and not different:
                return True
        if found >= need or not repetitive:
            return True
        # Repetitive code that kept its names is still a copy: the same forty fields (or
        # dummy classes) under the same names in the same order is no house style.
        # (Several names: `self`, `x` and `forward` are every torch module's.)
        faced = self.names(s)
        kept = [c for (na, nb), c in faced.items() if na == nb]
        return len(kept) >= MIN_KEPT_NAMES and sum(kept) >= KEPT_NAMES * sum(faced.values())


def family(s: Scored, ua: Unit, ub: Unit) -> bool:
    """Code written alike across a family of projects (house style both repeat, module code
    that only wires names): context, unless paired at its own path, where it is a fork's own
    file, changed."""
    return (s.house_style or ub.wiring) and ua.path != ub.path


# Small units of one file of B that are each the same code as a unit of one file of A, in
# at least this many pairs, are a copy of that file's code together (see `bulk_copies`).
BULK_UNITS = 4


def bulk_copies(
    chosen: Mapping[int, Scored],
    units_a: Sequence[Unit],
    units_b: Sequence[Unit],
    settings: Settings,
) -> frozenset[int]:
    """Units of B (their one-to-one pairs) that are small copies made in bulk.

    A unit under `min_unit_tokens` counts alone only as a whole copy that says enough
    (`small_copy`): `exists`, `default`, `cast_tuple` and `l2norm` each say too little. But a
    file of such helpers renamed one by one is a file copied: `BULK_UNITS` or more of its
    units, each the same code as its partner up to renaming, all partners in one file of A,
    that carry between them twice what one small copy must (`small_unit_anchors` anchors,
    `min_unit_tokens` tokens). Honest files share such units one or two at a time.
    What chance pairs is left out: a unit with no anchor (`return self.embed_tokens`, every
    Hugging Face model's getter), a shape its file writes twice (`require_x` decorators,
    `return False` stubs: any of those twins would pair), and context and family pairs.
    """
    shapes_a = Counter((u.path, u.content_hash) for u in units_a)
    shapes_b = Counter((u.path, u.content_hash) for u in units_b)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for b, s in chosen.items():
        ua, ub = units_a[s.a], units_b[b]
        syms = ub.tokens.syms
        if (
            s.context
            or family(s, ua, ub)
            or len(syms) >= settings.min_unit_tokens
            or ua.tokens.syms != syms
            or shapes_a[(ua.path, ua.content_hash)] > 1
            or shapes_b[(ub.path, ub.content_hash)] > 1
            or not distinct_anchors(syms)
        ):
            continue
        groups[(ua.path, ub.path)].append(b)
    out: set[int] = set()
    for members in groups.values():
        if len(members) < BULK_UNITS:
            continue
        streams = [units_b[b].tokens.syms for b in members]
        said = set().union(*map(anchor_set, streams))
        if (
            len(said) >= 2 * settings.small_unit_anchors
            and sum(map(len, streams)) >= 2 * settings.min_unit_tokens
        ):
            out.update(members)
    return frozenset(out)


def build(
    units_a: Sequence[Unit],
    units_b: Sequence[Unit],
    scored: Sequence[Scored],
    settings: Settings,
    unchanged: Callable[[UnitRef, UnitRef], bool] | None = None,
) -> Matching:
    """The reported pairs and their roll-ups. `unchanged` tells the pairs whose two units are
    the same text at the same path (`model.Unchanged`, which needs the files' texts)."""
    threshold = settings.pair_threshold
    floor = min(threshold, settings.context_threshold)
    fixed = frozenset(
        (s.a, s.b)
        for s in scored
        if units_a[s.a].content_hash == units_b[s.b].content_hash
        and units_a[s.a].qualname == units_b[s.b].qualname
        and units_a[s.a].path == units_b[s.b].path
    )

    def same_path(a: int, b: int) -> bool:
        return units_a[a].path == units_b[b].path

    first = one_to_one(scored, min_score=threshold, fixed=fixed, same_path=same_path)
    linked = {
        (units_a[s.a].path, units_b[b].path)
        for b, s in first.items()
        if len(units_b[b].tokens) >= settings.min_unit_tokens
    }
    # Second round: weaker pairs inside linked files join, and look-alikes are told apart
    # by structure and by the renaming the first round established.
    eligible = []
    for s in scored:
        if s.alignment.score >= threshold:
            eligible.append(s)
        elif (units_a[s.a].path, units_b[s.b].path) in linked:
            ctx = s.alignment.as_context(len(units_a[s.a].tokens), len(units_b[s.b].tokens))
            if ctx.score >= floor:
                eligible.append(Scored(a=s.a, b=s.b, alignment=ctx, context=ctx is not s.alignment))
    names = _Names(units_a, units_b)
    bonus = structural_bonus(eligible, first, units_a, units_b, floor, fixed, names, same_path)
    chosen = (
        one_to_one(eligible, min_score=floor, bonus=bonus, fixed=fixed, same_path=same_path)
        if eligible
        else {}
    )
    used_a = {s.a for s in chosen.values()}

    # Units of B left over but explained by an A unit already used: split helpers, duplicates.
    # (Only those are sorted: between two versions nearly every pair is chosen.)
    leftover = [
        s
        for s in scored
        if s.b not in chosen
        and s.a in used_a
        and s.alignment.matched > 0
        and s.alignment.score >= threshold
    ]
    extra: dict[int, Scored] = {}
    for s in sorted(leftover, key=lambda s: (-s.alignment.matched, s.a, s.b)):
        if s.b not in extra:
            extra[s.b] = s

    is_finding = _Findings(units_a, units_b, settings, names)
    bulk = bulk_copies(chosen, units_a, units_b, settings)
    files_of: dict[int, set[str]] = defaultdict(set)  # A unit -> files of B it explains
    for b, s in chain(chosen.items(), extra.items()):
        files_of[s.a].add(units_b[b].path)
    templates = {a for a, files in files_of.items() if len(files) >= TEMPLATE_FILES}
    partner = {b: s.a for b, s in chosen.items()}
    support = call_support(partner, call_graph(units_a), call_graph(units_b))

    def judged(b: int, s: Scored) -> bool:
        """Whether the pair is a finding on its own terms. The look-alikes of a template are
        context: only its one-to-one partner is judged; so is `family` code."""
        if family(s, units_a[s.a], units_b[b]):
            return False
        if b in extra and s.a in templates:
            return False
        return is_finding(s) or b in bulk

    judged_in: Counter[tuple[str, str]] = Counter()  # file pair -> pairs judged findings
    for b, s in chain(chosen.items(), extra.items()):
        if judged(b, s):
            judged_in[(units_a[s.a].path, units_b[b].path)] += 1

    def counts(b: int, s: Scored) -> bool:
        """`judged`, and a piecemeal match of a small unit only beside another finding of
        its two files (see `piecemeal`)."""
        if not judged(b, s):
            return False
        if not piecemeal(units_b[b], s.alignment, settings):
            return True
        return judged_in[(units_a[s.a].path, units_b[b].path)] > 1  # itself and another

    # Only findings link files: a pair that is context itself backs nothing.
    file_of_pair: Counter[tuple[str, str]] = Counter()
    for b, s in chosen.items():
        if counts(b, s):
            file_of_pair[(units_a[s.a].path, units_b[b].path)] += 1

    pairs: list[Pair] = []
    made = RenameCache()
    explained: dict[int, int] = {}  # b index -> tokens explained
    found_a: dict[int, bytearray] = {}  # a index -> which of its tokens a pair matched
    for b, s in list(chosen.items()) + list(extra.items()):
        ua, ub = units_a[s.a], units_b[b]
        finding = counts(b, s)
        # A small unit (a property, a two-line forward) matches something in any project,
        # and a weak pair may be chance. Either is reported only with structural backing:
        # its files are linked by findings, or its callees are matched to the partner's.
        backed = file_of_pair[(ua.path, ub.path)] > 0 or support.get(b, 0) > 0
        if not (finding or backed):
            continue
        explained[b] = s.alignment.matched
        tiles = s.alignment.tiles
        found = found_a.get(s.a)
        if found is None:
            found = found_a[s.a] = bytearray(len(ua.tokens))
        for t in tiles:
            found[t.a : t.a + t.length] = b"\x01" * t.length
        ref_a, ref_b = unit_ref(ua), unit_ref(ub)
        pairs.append(
            Pair(
                a=ref_a,
                b=ref_b,
                score=s.alignment.score,
                matched_tokens=s.alignment.matched,
                regions=regions(ua.tokens, ub.tokens, tiles),
                renames=renames_of(names.best(s), made),
                call_support=support.get(b, 0),
                one_to_one=b in chosen,
                identical=ua.content_hash == ub.content_hash,
                backed_only=not finding,
                unchanged=unchanged is not None and unchanged(ref_a, ref_b),
            )
        )
    pairs.sort(key=lambda p: (-p.score, -p.matched_tokens, p.b.path, p.b.start_line))

    tokens_b = sum(len(u.tokens) for u in units_b)
    return Matching(
        pairs=tuple(pairs),
        file_pairs=_file_pairs(pairs, units_b),
        # A context pair that is not one-to-one (another B class header that looks like an A
        # one already paired) maps names by chance: `LayerNorm -> Rotary` is no rename.
        renames=rename_map([p for p in pairs if p.one_to_one or not p.backed_only]),
        matched_tokens_b=sum(explained.values()),
        tokens_b=tokens_b,
        matched_tokens_a=sum(found.count(1) for found in found_a.values()),
        tokens_a=sum(len(u.tokens) for u in units_a),
    )


def rename_map(pairs: Sequence[Pair]) -> tuple[Rename, ...]:
    """Repo-level renames: for each original name, how many pairs map it to each new name."""
    counts: Counter[tuple[str, str]] = Counter()
    for pair in pairs:
        for r in pair.renames:
            if r.a != r.b:
                counts[(r.a, r.b)] += 1
    out = [Rename(a=a, b=b, count=c) for (a, b), c in counts.items()]
    out.sort(key=lambda r: (-r.count, r.a, r.b))
    return tuple(out)


def _file_pairs(pairs: Sequence[Pair], units_b: Sequence[Unit]) -> tuple[FilePair, ...]:
    size_b: Counter[str] = Counter()
    for u in units_b:
        size_b[u.path] += len(u.tokens)
    matched: Counter[tuple[str, str]] = Counter()
    count: Counter[tuple[str, str]] = Counter()
    for p in pairs:
        matched[(p.a.path, p.b.path)] += p.matched_tokens
        count[(p.a.path, p.b.path)] += 1
    out = [
        FilePair(a=a, b=b, score=min(1.0, m / max(1, size_b[b])), pairs=count[(a, b)])
        for (a, b), m in matched.items()
    ]
    out.sort(key=lambda f: (-f.score, f.b, f.a))
    return tuple(out)
