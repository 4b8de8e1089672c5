"""Executors: same results in the same order, whatever runs the work."""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import pytest

from plagiarism.errors import UsageError, WorkerError
from plagiarism.executor import LocalProcesses, Serial, cost_spans, make_executor, usable_cores


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def test_local_processes_keep_input_order_and_use_other_processes() -> None:
    items = list(range(200))
    pool = LocalProcesses(2, min_items=1)
    try:
        out = list(pool.map(_pid_and_square, items))
    finally:
        pool.close()
    assert [sq for _, sq in out] == [x * x for x in items]
    assert {pid for pid, _ in out} - {os.getpid()}, "the work must run in worker processes"


def test_small_batches_stay_in_process() -> None:
    pool = LocalProcesses(2)
    try:
        out = list(pool.map(_pid_and_square, range(5)))
    finally:
        pool.close()
    assert {pid for pid, _ in out} == {os.getpid()}


def _fail(x: int) -> int:
    raise ValueError(f"no {x}")


def test_work_set_aside_runs_in_a_running_pool_and_here_otherwise() -> None:
    pool = LocalProcesses(2, min_items=1)
    try:
        # No pool yet: starting one for a single item would cost more than it saves.
        assert pool.aside(_pid_and_square, 3).result() == (os.getpid(), 9)
        list(pool.map(_pid_and_square, range(10)))
        pid, square = pool.aside(_pid_and_square, 4).result()
    finally:
        pool.close()
    assert square == 16 and pid != os.getpid()


@pytest.mark.parametrize("make", [Serial, lambda: LocalProcesses(2)])
def test_work_set_aside_raises_only_when_its_result_is_asked(make: object) -> None:
    executor = make()  # type: ignore[operator]
    try:
        pending = executor.aside(_fail, 5)  # must not raise here
        with pytest.raises(ValueError, match="no 5"):
            pending.result()
    finally:
        executor.close()


_TEST_PROCESS = os.getpid()


def _die_on_three(x: int) -> int:
    if x == 0:
        time.sleep(0.3)  # done here, first: the workers take the batches after it meanwhile
    if x == 3 and os.getpid() != _TEST_PROCESS:
        os._exit(9)  # as the kernel's OOM killer would end it: no exception, no cleanup
    return x


@pytest.mark.parametrize("costed", [False, True])
def test_a_worker_that_dies_is_a_one_line_error_not_a_broken_pool(costed: bool) -> None:
    pool = LocalProcesses(2, min_items=1)
    try:
        with pytest.raises(WorkerError, match="worker process died") as caught:
            costs = [1.0] * 40 if costed else None
            list(pool.map(_die_on_three, [0, 1, 2, 4, 5, 3, 6, 7] + [1] * 32, costs=costs))
        assert "\n" not in str(caught.value)
        # The broken pool says the same to work set aside afterwards, at its result.
        pending = pool.aside(_pid_and_square, 2)
        with pytest.raises(WorkerError):
            pending.result()
    finally:
        pool.close()


def test_cost_spans_put_a_dear_item_alone_and_share_out_the_cheap_ones() -> None:
    costs = [50.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    spans = cost_spans(costs, 8)
    assert spans[0] == (0, 1)
    # Contiguous, in order, covering every item once.
    assert [lo for lo, _ in spans[1:]] == [hi for _, hi in spans[:-1]]
    assert spans[-1][1] == len(costs)
    # The cheap items are grouped up to about an eighth of the total each.
    assert all(sum(costs[lo:hi]) <= sum(costs) / 8 or hi - lo == 1 for lo, hi in spans)
    assert len(spans) < len(costs)
    assert cost_spans([], 4) == []


def test_costed_work_is_batched_by_cost_in_order_and_cheap_work_stays_home() -> None:
    items = list(range(300))
    pool = LocalProcesses(2)
    try:
        cheap = list(pool.map(_pid_and_square, items, costs=[1e-6] * len(items)))
        # The first item is the dearest: it is done here while the workers take the rest.
        costly = list(pool.map(_square_slowly_at_zero, items, costs=[1.0] + [0.01] * 299))
    finally:
        pool.close()
    assert [sq for _, sq in cheap] == [x * x for x in items]
    assert {pid for pid, _ in cheap} == {os.getpid()}
    assert [sq for _, sq in costly] == [x * x for x in items]
    assert costly[0][0] == os.getpid()
    assert {pid for pid, _ in costly[1:]} - {os.getpid()}, "the rest must run in workers"


def _square_slowly_at_zero(x: int) -> tuple[int, int]:
    if x == 0:
        time.sleep(0.2)  # long enough for the workers to take the other batches
    return _pid_and_square(x)


def _pid_after_a_pause(x: float) -> int:
    time.sleep(x)
    return os.getpid()


def test_batches_no_worker_has_started_are_run_here_not_waited_for() -> None:
    pool = LocalProcesses(2, min_items=1)
    try:
        list(pool.map(_pid_and_square, range(4)))  # the pool runs
        # Both workers busy with work set aside, as with a cold run's cache writes.
        busy = [pool.aside(_pid_after_a_pause, 1.0) for _ in range(2)]
        items = list(range(64))
        out = list(pool.map(_pid_and_square, items, costs=[1.0] * len(items)))
        for pending in busy:
            assert pending.result() != os.getpid()
    finally:
        pool.close()
    assert [sq for _, sq in out] == [x * x for x in items]
    # Only the few batches the pool had already queued for its busy workers ran there.
    here = sum(pid == os.getpid() for pid, _ in out)
    assert here >= len(items) // 2, f"only {here} of {len(items)} items ran here"


def test_one_job_means_serial() -> None:
    assert isinstance(make_executor(1), Serial)
    assert isinstance(make_executor(0), LocalProcesses)
    assert make_executor(0).jobs == usable_cores()  # type: ignore[attr-defined]


def test_usable_cores_are_the_affinity_not_the_machine() -> None:
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    assert usable_cores() == len(os.sched_getaffinity(0))


def test_more_jobs_than_cores_are_capped_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from plagiarism import executor as executor_mod

    monkeypatch.setattr(executor_mod, "usable_cores", lambda: 3)
    with caplog.at_level(logging.WARNING, logger="plagiarism.executor"):
        capped = make_executor(200)
    assert isinstance(capped, LocalProcesses) and capped.jobs == 3
    assert "--jobs 200: this process can use 3 cores; running 3 workers" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="plagiarism.executor"):
        asked = make_executor(3)
        default = make_executor(0)
    assert isinstance(asked, LocalProcesses) and asked.jobs == 3
    assert isinstance(default, LocalProcesses) and default.jobs == 3
    assert not caplog.records


def test_an_unreachable_scheduler_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("dask.distributed", reason="Dask is an optional extra")
    from plagiarism import executor as executor_mod

    monkeypatch.setattr(executor_mod, "DASK_CONNECT_TIMEOUT_S", 2)
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        make_executor(0, "tcp://127.0.0.1:9")


def test_without_dask_the_scheduler_flag_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # makes the import fail
    with pytest.raises(UsageError, match=r"pip install 'plagiarism\[dask\]'"):
        make_executor(0, "tcp://127.0.0.1:8786")


def _collecting(_: int) -> bool:
    return gc.isenabled()


def test_workers_collect_even_when_forked_while_the_collector_is_paused() -> None:
    # The CLI and `compare` pause the parent's collector; a worker that inherited that
    # would keep every cycle it ever made.
    pool = LocalProcesses(2, min_items=1)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        assert all(pool.map(_collecting, range(8)))
    finally:
        pool.close()
        if was_enabled:
            gc.enable()


def test_a_worker_leaves_ctrl_c_to_the_parent() -> None:
    # Ctrl-C reaches every process of the terminal's group; an idle worker that took it
    # died in a traceback (and broke the pool), a busy one failed its item and went on.
    import multiprocessing
    import signal

    others = {p.pid for p in multiprocessing.active_children()}  # earlier tests' children
    pool = LocalProcesses(2, min_items=1)
    try:
        list(pool.map(_pid_and_square, range(50)))
        workers = {p.pid for p in multiprocessing.active_children()} - others
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        time.sleep(0.3)
        out = list(pool.map(_pid_and_square, range(50)))
        alive = {p.pid for p in multiprocessing.active_children()} - others
    finally:
        pool.close()
    assert len(workers) == 2 and alive == workers  # the same workers, still there
    assert [sq for _, sq in out] == [x * x for x in range(50)]


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_an_abandoned_pool_stops_its_running_work_at_once() -> None:
    # An interrupted run must not wait for work nobody will read (a checkpoint's comparison
    # set aside can take minutes); `close` waits for running work, `abandon` kills it.
    import multiprocessing

    others = {p.pid for p in multiprocessing.active_children()}  # earlier tests' children
    pool = LocalProcesses(2, min_items=1)
    list(pool.map(_pid_and_square, range(10)))
    pending = [pool.aside(_sleep, 60.0) for _ in range(3)]
    time.sleep(0.2)
    started = time.monotonic()
    pool.abandon()
    assert time.monotonic() - started < 30
    assert not {p.pid for p in multiprocessing.active_children()} - others
    pool.close()  # nothing left to close
    with pytest.raises(WorkerError):  # its worker is gone
        pending[-1].result()


def _exit_on_three(x: int) -> int:
    if x == 3:
        os._exit(9)  # a Dask executor runs nothing in this process
    return x


def test_a_dask_worker_that_dies_is_a_worker_error_not_a_bug() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("dask.distributed", reason="Dask is an optional extra")
    import dask
    from dask.distributed import Client, LocalCluster

    from plagiarism.executor import DaskExecutor

    # No retries: the scheduler gives up on the task at its first worker's death.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        executor = DaskExecutor(client=client, batch=4)
        with pytest.raises(WorkerError, match="Dask worker died") as caught:
            list(executor.map(_exit_on_three, [0, 1, 2, 4, 3, 5]))
        assert "\n" not in str(caught.value)


def test_dask_items_travel_to_the_workers_not_through_the_task_graph() -> None:
    # A transformers-sized parse ships ~54 MB of source text: inside the task graph the
    # scheduler held it and Dask printed a "Sending large graph" warning on stderr.
    if os.environ.get("CI") != "true":
        pytest.importorskip("dask.distributed", reason="Dask is an optional extra")
    from dask.distributed import Client, LocalCluster

    from plagiarism.executor import DaskExecutor

    texts = [c * (4 << 20) for c in "abc"]  # 12 MB, over Dask's 10 MB warning threshold
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
        warnings.catch_warnings(record=True) as shown,
    ):
        warnings.simplefilter("always")
        executor = DaskExecutor(client=client, batch=1)
        assert list(executor.map(len, texts)) == [4 << 20] * 3
        assert list(executor.map(len, [])) == []
    assert not [w for w in shown if "large graph" in str(w.message)]


def _exit_once(item: tuple[int, str]) -> int:
    x, marker = item
    if x == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)  # the first time only: a worker lost to the machine, not to this item
    return x * x


def test_a_dask_worker_lost_with_its_items_is_recovered(tmp_path: Path) -> None:
    # Items sent to a worker die with it; the batches that needed them run again elsewhere.
    if os.environ.get("CI") != "true":
        pytest.importorskip("dask.distributed", reason="Dask is an optional extra")
    from dask.distributed import Client, LocalCluster

    from plagiarism.executor import DaskExecutor

    marker = str(tmp_path / "died")
    items = [(x, marker) for x in range(8)]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        executor = DaskExecutor(client=client, batch=2)
        assert list(executor.map(_exit_once, items)) == [x * x for x in range(8)]
    assert os.path.exists(marker)  # a worker did die
