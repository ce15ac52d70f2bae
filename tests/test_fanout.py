"""bellcore.ordered_map: the one fan-out of certify_many, the dataset runner and the campaign's certify stage."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import threading
import time

import pytest

from bellcore import ordered_map

from ._fanout_work import late_first


def test_results_come_in_item_order_from_worker_processes():
    ticks = []
    out = list(ordered_map(late_first, range(10), workers=2, weights=[2] * 10,
                           progress=lambda d, t, info: ticks.append((d, t))))
    assert out == [-i for i in range(10)]
    assert ticks == [(2 * k, 20) for k in range(11)]
    assert not mp.active_children()  # the pool is gone when the iteration ends


def test_an_interrupt_at_a_check_stops_the_map_and_leaves_no_worker():
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    got = []
    with pytest.raises(KeyboardInterrupt):
        for r in ordered_map(late_first, range(40), workers=2, check=check):
            got.append(r)
    assert got == [0]  # the check runs before a result is handed on: the second one never is
    assert not mp.active_children()


def test_a_cluster_submit_keeps_at_most_window_items_in_flight():
    lock, running, most = threading.Lock(), [0], [0]

    def work(i):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i * i

    with cf.ThreadPoolExecutor(8) as pool:
        out = list(ordered_map(work, range(30), submit=lambda fn, x: pool.submit(fn, x), window=3))
    assert out == [i * i for i in range(30)] and most[0] <= 3


def test_in_process_when_one_worker_and_arguments_checked_at_the_call():
    assert list(ordered_map(abs, [-3, 2, -1])) == [3, 2, 1]
    for kw, msg in [({"workers": 0}, "workers"), ({"workers": 1.5}, "workers"), ({"window": 0}, "window"),
                    ({"weights": [1]}, "weights")]:
        with pytest.raises(ValueError, match=msg):
            ordered_map(abs, [1, 2], **kw)  # raised here, not at the first result
