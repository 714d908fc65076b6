"""The trainer child: ``python -m gan_core.jobs _run NAME [--resume]`` trains in this process
(one rank under torchrun), records how it ended, then runs a scheduler pass."""
from __future__ import annotations

import argparse
import faulthandler
import gc
import os
import sys
import time
import traceback

from gan_core.jobs.processes import HOST, boot_id, start_ticks
from gan_core.jobs.scheduler import schedule
from gan_core.runs.locks import TrainerBusy, acquire_trainer_lock, release_trainer_lock
from gan_core.runs.rundir import RunDir
from gan_core.runs.states import RunState


def run_child(argv: list[str], early_stop=lambda: False) -> int:
    """Train run ``argv[0]`` here; ``early_stop()`` says whether a SIGTERM came while Python started."""
    faulthandler.enable(sys.__stderr__)  # a crash in native code (SIGSEGV, SIGFPE, ...) leaves its Python stack in log.txt
    parser = argparse.ArgumentParser(prog="python -m gan_core.jobs _run")
    parser.add_argument("name")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    run = RunDir.open(args.name)
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    main = rank == 0
    lock = None
    if main:
        try:
            lock = acquire_trainer_lock(run.path)  # held until this process ends: the run's one trainer
        except TrainerBusy as exc:
            print(f"not training: {exc}; this duplicate start exits and leaves the run to it", flush=True)
            return 1
    state = "failed"
    try:
        from gan_core.training.loop import train  # the slow import, before the last look for an early stop

        if main:
            run.write_status(state="running", pid=os.getpid(), pid_start=start_ticks(os.getpid()), host=HOST,
                             boot_id=boot_id(), world_size=world)
        if world == 1 and (early_stop() or run.stop_path.exists()):
            run.stop_path.unlink(missing_ok=True)
            ckpt = run.latest_checkpoint()
            run.write_status(state="stopped", ended=time.time(), note="stopped before training began",
                             checkpoint_step=ckpt.step if ckpt else None)
            print("stopped before training began", flush=True)
            state = "stopped"
        else:
            if args.resume and main and run.latest_checkpoint() is None:
                run.truncate_metrics_after(0)  # starting over: the old records would repeat steps
            state = train(run, resume=args.resume)
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the folder says how it ended
        state = "failed"
        if main and not (RunState.of(run.read_status().get("state")) or RunState.CREATED).final:
            tb = traceback.format_exc()
            run.write_status(state="failed", error=f"{type(exc).__name__}: {exc}", traceback=tb[-4000:], ended=time.time())
            print(f"failed: {type(exc).__name__}: {exc}\n{tb}", flush=True)
    finally:
        if main:
            run.stop_path.unlink(missing_ok=True)  # honoured (or moot): a later start must not see it
            release_trainer_lock(lock)  # the final state is written: a resume may start a new trainer
            _release_gpu_memory()  # the next job may start on this GPU before this process has exited
            try:
                schedule(run.path.parent)
            except Exception as exc:  # noqa: BLE001 - the queue moves on at the next pass anyway
                print(f"scheduler pass failed: {type(exc).__name__}: {exc}", flush=True)
    return 0 if state in ("finished", "stopped") else 1


def _release_gpu_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        gc.collect()
        torch.cuda.empty_cache()
