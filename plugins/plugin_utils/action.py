"""Controller side of every cnab.runtime module (shared by the files in plugins/action/)."""

import gc
import signal

from ansible.plugins.action.normal import ActionModule as NormalAction


class CnabAction(NormalAction):
    """Runs the module exactly as Ansible's default action does, with the garbage
    collector paused meanwhile.

    Building a module's payload parses every module_utils file it imports. In the
    worker process, which holds the whole play's state, those allocations trigger
    full collections that cost more than the build itself (docs/benchmarks.md).
    The worker is forked for this one task, so the pause is bounded; the collector
    runs again as soon as the module returns. Only the public ``run`` is overridden.
    """

    def run(self, tmp=None, task_vars=None):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return stopped_by_signal(self._task.action, super().run(tmp, task_vars))
        finally:
            if was_enabled:
                gc.enable()


def stopped_by_signal(module, result):
    """``result``, or, when the module process was ended by SIGTERM/SIGINT before it printed anything (the
    signal came while Python started or the payload unpacked, before the module's own handlers were
    installed: a run's handlers then report "the run was canceled"), a result that says so in one sentence
    instead of "Module result deserialization failed"."""
    rc = result.get("rc")
    if result.get("_ansible_parsed") is not False or not isinstance(rc, int) or (result.get("module_stdout") or "").strip():
        return result
    number = -rc if rc < 0 else rc - 128  # killed directly, or through a shell (128 + signal)
    if number not in (signal.SIGTERM, signal.SIGINT):
        return result
    return {"failed": True, "changed": False, "rc": rc,
            "msg": "%s was stopped by signal %d (%s) before it could report a result."
                   % (module, number, signal.Signals(number).name)}
