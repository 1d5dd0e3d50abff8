"""Processes, ranks and the launcher.

Single process: nothing to set up. Under ``torchrun`` / ``accelerate launch`` the launcher sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; ``init()`` then joins the process
group (``nccl`` on GPUs, ``gloo`` on CPU). On a Vertex AI custom job with a custom container only
``CLUSTER_SPEC`` is set: ``vertex_cluster_env`` turns it into the launcher's node settings, and
``maybe_relaunch`` re-executes the entrypoint through ``torch.distributed.run`` when more than one process
is needed (several GPUs on a node, or several nodes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_MASTER_PORT = 29500
_LAUNCHED_FLAG = "LLMOPS_TRAINER_LAUNCHED"


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env(env: Mapping[str, str] | None = None) -> DistInfo:
    """Rank and world size as set by torchrun / accelerate (defaults: one process)."""
    env = os.environ if env is None else env
    return DistInfo(
        rank=int(env.get("RANK", "0")),
        local_rank=int(env.get("LOCAL_RANK", "0")),
        world_size=int(env.get("WORLD_SIZE", "1")),
    )


@dataclass(frozen=True)
class ClusterNodes:
    """Node-level launcher settings derived from Vertex AI's ``CLUSTER_SPEC``."""

    master_addr: str
    master_port: int
    nnodes: int
    node_rank: int

    def as_env(self) -> dict[str, str]:
        return {
            "MASTER_ADDR": self.master_addr,
            "MASTER_PORT": str(self.master_port),
            "NNODES": str(self.nnodes),
            "NODE_RANK": str(self.node_rank),
        }


def vertex_cluster_env(cluster_spec: str | Mapping | None) -> ClusterNodes | None:
    """Parse ``CLUSTER_SPEC`` (``{"cluster": {"workerpool0": ["host:port"], ...}, "task": {...}}``).

    ``workerpool0`` is the primary replica (node rank 0); the replicas of ``workerpool1`` follow in order.
    Returns ``None`` for a missing spec or a single node.
    """
    if not cluster_spec:
        return None
    spec = json.loads(cluster_spec) if isinstance(cluster_spec, str) else dict(cluster_spec)
    try:
        cluster = spec["cluster"]
        task = spec["task"]
        primary = cluster["workerpool0"][0]
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"CLUSTER_SPEC lacks cluster.workerpool0[0] or task: {exc!r}") from exc
    workers = list(cluster.get("workerpool1", []))
    nnodes = 1 + len(workers)
    if nnodes == 1:
        return None
    host, _, port = primary.rpartition(":")
    pool, index = task.get("type"), int(task.get("index", 0))
    if pool == "workerpool0":
        node_rank = 0
    elif pool == "workerpool1":
        node_rank = 1 + index
    else:  # reduction servers / evaluators are not training nodes
        raise ValueError(f"CLUSTER_SPEC task type {pool!r} is not a training worker pool")
    return ClusterNodes(host or primary, int(port or DEFAULT_MASTER_PORT), nnodes, node_rank)


def processes_per_node(setting: str) -> int:
    """``auto``: one process per visible GPU (at least one); else the given integer."""
    if setting != "auto":
        return max(1, int(setting))
    import torch

    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def maybe_relaunch(argv: Sequence[str], nproc_per_node: str) -> int | None:
    """Re-run ``python -m llmops_trainer <argv>`` through torchrun when the job needs several processes.

    Returns the launcher's exit code, or ``None`` when this process should train by itself (already
    under a launcher, or one process on one node).
    """
    if "LOCAL_RANK" in os.environ or os.environ.get(_LAUNCHED_FLAG):
        return None
    nodes = vertex_cluster_env(os.environ.get("CLUSTER_SPEC"))
    nproc = processes_per_node(nproc_per_node)
    if nodes is None and nproc == 1:
        return None
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if nodes is not None:
        cmd += [
            f"--nnodes={nodes.nnodes}",
            f"--node_rank={nodes.node_rank}",
            f"--master_addr={nodes.master_addr}",
            f"--master_port={nodes.master_port}",
        ]
    else:
        cmd += ["--standalone"]
    cmd += ["-m", "llmops_trainer", *argv]
    env = {**os.environ, _LAUNCHED_FLAG: "1"}
    return subprocess.call(cmd, env=env)


def init(info: DistInfo):
    """Join the process group when there are several processes; return the device to train on."""
    import torch

    use_cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{info.local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if info.enabled and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device


def barrier(info: DistInfo) -> None:
    import torch

    if info.enabled and torch.distributed.is_initialized():
        torch.distributed.barrier()


def all_reduce_sum(info: DistInfo, values: list[float]) -> list[float]:
    """Sum floats over all processes (identity with one process)."""
    if not info.enabled:
        return list(values)
    import torch

    device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def broadcast_int(info: DistInfo, value: int) -> int:
    """Rank 0's value on every process."""
    if not info.enabled:
        return value
    import torch

    device = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    torch.distributed.broadcast(tensor, src=0)
    return int(tensor.item())


def shutdown(info: DistInfo) -> None:
    import torch

    if info.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
