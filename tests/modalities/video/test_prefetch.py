"""The prefetch queue: order kept, errors handed over, memory bounded by its depth, early exit cleaned up."""

import threading
import time

from embedforge.modalities.video.prefetch import prefetched


def test_results_in_order_with_errors_as_values():
    def fn(x):
        if x == 3:
            raise ValueError("bad 3")
        return x * 10

    for depth in (0, 1, 3):
        out = list(prefetched(range(6), fn, depth))
        assert [i for i, _ in out] == list(range(6))
        assert [v for _, v in out if not isinstance(v, Exception)] == [0, 10, 20, 40, 50]
        assert str(out[3][1]) == "bad 3"


def test_at_most_depth_results_wait_ahead_of_the_consumer():
    made, lock = [0], threading.Lock()

    def fn(x):
        with lock:
            made[0] += 1
        return x

    ahead = []
    for consumed, _ in enumerate(prefetched(range(40), fn, depth=2), 1):
        time.sleep(0.002)  # a slow consumer (the model) lets the producer run ahead as far as it may
        with lock:
            ahead.append(made[0] - consumed)
    assert max(ahead) <= 3  # 2 in the queue + 1 being made
    assert max(ahead) >= 1  # it did run ahead: decoding overlapped the consumer


def test_leaving_early_stops_the_producer():
    before = threading.active_count()
    gen = prefetched(range(1000), lambda x: x, depth=2)
    assert next(gen) == (0, 0)
    gen.close()
    time.sleep(0.05)
    assert threading.active_count() == before
