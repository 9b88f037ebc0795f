"""Timers: patch-driven rebuilds, and retention plus the temp-resource sweeper."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import bootstrap

bp = func.Blueprint()
log = logging.getLogger("avdimage.timers")


@bp.function_name("rebuild_scheduler")
@bp.timer_trigger(arg_name="timer", schedule="%AVD_REBUILD_SCHEDULE%", run_on_startup=False, use_monitor=True)
def rebuild_scheduler(timer: func.TimerRequest) -> None:
    handled = bootstrap.entrypoints().scheduled_rebuilds()
    log.info("rebuild scheduler (past due: %s): %s", timer.past_due, handled.note)


@bp.function_name("retention_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%AVD_SWEEP_SCHEDULE%", run_on_startup=False, use_monitor=True)
def retention_sweep(timer: func.TimerRequest) -> None:
    handled = bootstrap.entrypoints().retention_and_sweep()
    log.info("retention and sweep (past due: %s): %s", timer.past_due, handled.note)
