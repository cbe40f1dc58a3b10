"""GPU counters on the host side: which catalogue a GPU has, which counters `--pmcs` asks for, and how
they split into passes when kgsl cannot read them all at once.

The catalogues are the ones fusegov knows (android.emulator.sim.pmc: Adreno A6xx/A7xx, Mali Valhall), picked
by the GPU model `fusegov probe` reports. The sampler itself only sees (group id, countable) pairs or (Mali
block type, slot) pairs.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from collectors.errors import CollectorError
from collectors.trace import pmc_col

# GPU model text (probe's gpu.model) -> counter family
FAMILY_RULES = (
    (re.compile(r"adreno\D*6\d\d", re.I), "adreno-a6xx"),
    (re.compile(r"adreno\D*7\d\d", re.I), "adreno-a7xx"),
    (re.compile(r"mali-?g(57|68|77|78|310|510|610|710|715)\b", re.I), "mali-valhall"),
)


@dataclass(frozen=True)
class PmcCounter:
    group: str  # kgsl group (SP, TP...) or Mali block (FE, TILER, MEMORY, SHADER_CORE)
    group_id: int  # KGSL_PERFCOUNTER_GROUP_* or the Mali block type
    countable: int  # kgsl countable or Mali slot in the block
    name: str

    @property
    def column(self) -> str:
        return pmc_col(self.group, self.name)


def family_of(gpu_model: str) -> str:
    for pattern, family in FAMILY_RULES:
        if pattern.search(gpu_model):
            return family
    raise CollectorError(
        f"no GPU counter catalogue for {gpu_model!r}: fusegov knows Adreno 6xx/7xx and Mali Valhall "
        "(G57..G715); collect without counters (--pmcs 0)"
    )


def catalogue(gpu_model: str) -> list[PmcCounter]:
    from android.emulator.sim.pmc.unit import family_model

    spec, _ = family_model(family_of(gpu_model))
    ids = {g.name: g.group_id for g in spec.groups}
    return [PmcCounter(c.group, ids[c.group], c.index, c.name) for c in spec.counters]


def shader_cores(gpu_model: str) -> int:
    """Mali core count from the model name ('Mali-G710 MP7', or kbase's gpuinfo 'Mali-G710 7 cores')."""
    match = re.search(r"MP(\d+)", gpu_model) or re.search(r"(\d+)\s*cores", gpu_model)
    if not match:
        raise CollectorError(f"cannot tell the shader core count of {gpu_model!r} (expected 'MPn' or 'n cores')")
    return int(match.group(1))


def select(counters: list[PmcCounter], spec: str | int | None, free: dict[str, int] | None = None) -> list[PmcCounter]:
    """The counters `--pmcs` names: 'all', 'pass' (every counter one pass can read: per group its free
    physical counters; all of them where `free` is None, as on Mali), N (N counters spread over the groups
    round-robin, so as many as possible fit in one pass), '0'/'none', or NAME[,NAME...] (NAME or GROUP.NAME)."""
    text = str(spec if spec is not None else "all").strip()
    if text in ("", "all"):
        return list(counters)
    if text in ("0", "none"):
        return []
    by_group: dict[str, list[PmcCounter]] = {}
    for c in counters:
        by_group.setdefault(c.group, []).append(c)
    if text == "pass":
        if free is None:
            return list(counters)
        return [c for g, members in by_group.items() for c in members[: free.get(g, 0)]]
    if text.isdigit():
        wanted = int(text)
        order: list[PmcCounter] = []
        depth = 0
        while len(order) < min(wanted, len(counters)):
            for members in by_group.values():
                if depth < len(members):
                    order.append(members[depth])
            depth += 1
        return order[:wanted]
    index = {c.name: c for c in counters} | {f"{c.group}.{c.name}": c for c in counters}
    chosen = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        if name not in index:
            near = difflib.get_close_matches(name, list(index), n=3)
            raise CollectorError(
                f"--pmcs: no counter {name!r} on this GPU" + (f"; did you mean {', '.join(near)}?" if near else "")
            )
        if index[name] not in chosen:
            chosen.append(index[name])
    return chosen


def plan_passes(chosen: list[PmcCounter], free: dict[str, int] | None, held: dict[str, set[int]] | None = None):
    """Split counters into passes a GPU reads at once: per kgsl group at most its free physical counters
    (countables the driver already holds share their counter and cost nothing); Mali reads all in one."""
    if not chosen:
        return [[]]
    if free is None:
        return [list(chosen)]
    held = held or {}
    passes: list[list[PmcCounter]] = []
    by_group: dict[str, list[PmcCounter]] = {}
    for c in chosen:
        by_group.setdefault(c.group, []).append(c)
    for group, members in by_group.items():
        shared = [c for c in members if c.countable in held.get(group, set())]
        own = [c for c in members if c not in shared]
        room = free.get(group, 0)
        if own and room <= 0:
            raise CollectorError(
                f"GPU counter group {group} has no free physical counter (the driver or another profiler holds "
                f"them all): cannot read {', '.join(c.name for c in own[:3])}; drop them from --pmcs"
            )
        chunks = [own[i : i + room] for i in range(0, len(own), room)] if own else [[]]
        for k, chunk in enumerate(chunks):
            while len(passes) <= k:
                passes.append([])
            passes[k].extend(chunk + (shared if k == 0 else []))
    order = {id(c): i for i, c in enumerate(chosen)}
    return [sorted(p, key=lambda c: order[id(c)]) for p in passes]
