"""Controller side of every cnab.runtime module (shared by the files in plugins/action/)."""

import gc

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
            return super().run(tmp, task_vars)
        finally:
            if was_enabled:
                gc.enable()
