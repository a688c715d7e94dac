# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible_collections.cnab.runtime.plugins.plugin_utils.action import CnabAction


class ActionModule(CnabAction):
    """Controller side of M(cnab.runtime.cnab_bundle); see plugin_utils/action.py."""
