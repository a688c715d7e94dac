"""Controller side of every cnab.runtime module (shared by the files in plugins/action/)."""

import gc
import os
import signal

from ansible import constants as C
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.display import Display

from ansible_collections.cnab.runtime.plugins.plugin_utils import payload_cache

display = Display()


class CnabAction(NormalAction):
    """Runs the module exactly as Ansible's default action does, with the garbage
    collector paused meanwhile and the module's payload kept across runs.

    Building a module's payload parses every module_utils file it imports. In the
    worker process, which holds the whole play's state, those allocations trigger
    full collections that cost more than the build itself: about 80 ms per task,
    measured in docs/benchmarks.md. The worker is forked for this one task, so the
    pause is bounded; the collector runs again as soon as the module returns.
    The build itself is skipped when an unchanged payload was kept by an earlier run
    (payload_cache.py says why and how).
    """

    def run(self, tmp=None, task_vars=None):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return stopped_by_signal(self._task.action, super().run(tmp, task_vars))
        finally:
            if was_enabled:
                gc.enable()

    def _configure_module(self, module_name, module_args, task_vars):
        entry = self._payload_entry(module_name, task_vars)
        if entry is not None:
            try:
                entry.place()
            except Exception as error:  # pylint: disable=broad-except  # the cache must never fail a task
                display.vvvv("cnab.runtime payload cache not used: %s" % error)
        built = super()._configure_module(module_name, module_args, task_vars)
        if entry is not None:
            try:
                entry.store()
            except Exception as error:  # pylint: disable=broad-except
                display.vvvv("cnab.runtime payload cache not updated: %s" % error)
        return built

    def _payload_entry(self, module_name, task_vars):
        """The persistent cache entry for this module, or None when the cache does not apply."""
        if not payload_cache.enabled():
            return None
        module_common = payload_cache.core_internals()
        if module_common is None:
            return None
        try:
            preferences = tuple(self._connection.module_implementation_preferences)
            if ".ps1" in preferences:
                return None
            found = self._shared_loader_obj.module_loader.find_plugin_with_context(
                module_name, preferences[0], collection_list=self._task.collections)
            module_path = found.plugin_resolved_path if found.resolved else None
            if not module_path or os.path.realpath(os.path.dirname(module_path)) != os.path.realpath(payload_cache.MODULES_DIR):
                return None
            # The same inputs _configure_module hands to modify_module for this task.
            use_vars = task_vars
            if self._task.delegate_to:
                use_vars = task_vars.get("ansible_delegated_vars")[self._task.delegate_to]
            from ansible._internal._ansiballz._builder import ExtensionManager

            if ExtensionManager.create(task_vars=use_vars).extension_names:
                return None  # debugger/coverage payloads carry per-run options: leave them to Ansible
            compression = C.config.get_config_value("DEFAULT_MODULE_COMPRESSION", variables=task_vars)
            return payload_cache.PayloadEntry(module_common, module_path, compression, "none",
                                              C.DEFAULT_LOCAL_TMP, payload_cache.default_cache_dir())
        except Exception as error:  # pylint: disable=broad-except
            display.vvvv("cnab.runtime payload cache not used: %s" % error)
            return None


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
