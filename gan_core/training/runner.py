"""How one training step's device work runs: eagerly, or captured once as a CUDA graph and
replayed, with the first step of a compiled run falling back to the eager modules when the
compiler fails. The step itself (``training.step``) knows nothing of either.

A CUDA graph of the whole step: at batch 64 the eager step is launch-bound (an H100 sat idle
80-90% of it); replayed as one graph it ran 5-6x the images/s (BENCHMARKS.md).
"""
from __future__ import annotations

from typing import Callable

import torch


class StepRunner:
    def __init__(self, device_step: Callable[[], None], *, device: torch.device, use_graph: bool,
                 generators: list[torch.Generator], compiled: bool,
                 on_compile_failure: Callable[[Exception], None], say: Callable[[str], None]):
        self.device_step, self.device = device_step, device
        self.use_graph = use_graph
        self.generators = generators  # random streams the graph must advance on replay
        self.on_compile_failure, self.say = on_compile_failure, say
        self._compile_pending = compiled
        self._graph: torch.cuda.CUDAGraph | None = None
        self._warm = 0  # eager steps since the graph was last dropped (capture needs 2)

    def run(self) -> None:
        """One step's device work. A compiler failure surfaces in a forward pass of the first
        step (D is compiled again for G's step), so at worst the retry repeats one D update."""
        if not self._compile_pending:
            return self._run()
        self._compile_pending = False
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
            self.on_compile_failure(exc)
            self._run()

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def drop(self) -> None:
        """Forget the captured step: it holds this moment's optimizer tensors and learning
        rates, which a checkpoint load or a rollback replaces. The next steps capture anew."""
        self._graph, self._warm = None, 0

    def _run(self) -> None:
        if self._graph is None and self.use_graph and self._warm >= 2:
            self._capture()
        if self._graph is not None:
            self._graph.replay()
        elif self.use_graph:  # warm-up for a capture: on a side stream, as CUDA graphs ask
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self.device_step()
            torch.cuda.current_stream(self.device).wait_stream(side)
            self._warm += 1
        else:
            self.device_step()

    def _capture(self) -> None:
        """Record one step's kernels as a CUDA graph (recording runs nothing). Anything the
        step does on the host that a graph cannot hold (a sync, a copy from host memory)
        fails the capture; training then goes on eagerly and says why."""
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators:
            graph.register_generator_state(generator)
        try:
            with torch.cuda.graph(graph):
                self.device_step()
        except Exception as exc:  # noqa: BLE001 - any capture failure means: run eagerly
            self.use_graph = False
            self.say(f"CUDA graph capture failed ({type(exc).__name__}: {first_line(exc)}); running eagerly")
            return
        self._graph = graph


def first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else ""
