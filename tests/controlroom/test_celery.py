"""``controlroom.celery``'s typed wrappers: a task keeps its body and carries its policy; a
receiver is connected to every signal it names."""

from __future__ import annotations

from celery.utils.dispatch import Signal

from controlroom.celery import _receiver, app, task


@task(
    name="tests.celery.double",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    time_limit=7,
    soft_time_limit=5,
)
def double_task(number: int) -> int:
    return 2 * number


def test_a_task_is_registered_under_its_name_with_the_policy_on_its_decorator():
    registered = app.tasks["tests.celery.double"]
    assert registered.name == double_task.name == "tests.celery.double"
    assert registered.acks_late is True
    assert registered.reject_on_worker_lost is True
    assert registered.ignore_result is True
    assert (registered.soft_time_limit, registered.time_limit) == (5, 7)


def test_a_task_runs_its_body_when_called_run_or_applied():
    assert double_task(3) == 6
    assert double_task.run(4) == 8
    assert double_task.apply(args=(5,)).get() == 10


def test_a_policy_left_out_keeps_celerys_default():
    @task(name="tests.celery.plain")
    def plain_task() -> str:
        return "ran"

    registered = app.tasks["tests.celery.plain"]
    assert registered.acks_late == app.conf.task_acks_late
    assert registered.time_limit == app.conf.task_time_limit
    assert plain_task() == "ran"


def test_a_receiver_hears_every_signal_it_names_and_stays_the_same_function():
    first, second, other = Signal(name="first"), Signal(name="second"), Signal(name="other")
    heard: list[object] = []

    def hear(sender: object = None, **kwargs: object) -> None:
        heard.append(sender)

    assert _receiver(first, second)(hear) is hear
    first.send(sender="a")
    other.send(sender="b")
    second.send(sender="c")
    assert heard == ["a", "c"]
