"""The decision table: what to run, given the stored claims and the desired state.

``decide`` is a pure function. Check mode and real runs both call it with the same
inputs, so check mode cannot disagree with a run. No I/O happens here.
"""

from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import (
    STATUS_SUCCEEDED,
    runtime_custom,
)
from ansible_collections.cnab.runtime.plugins.module_utils.errors import InstallationNotFound

INTENTS = ("install", "upgrade", "uninstall", "present", "absent", "action")


class Desired:
    """What the user asks for, reduced to what decisions compare."""

    def __init__(self, intent, digest=None, parameters_fp=None, credentials_fp=None, action=None, force=False,
                 index_digest=None):
        if intent not in INTENTS:
            raise ValueError("unknown intent %r" % intent)
        self.intent = intent
        self.digest = digest
        # The OCI index digest of a bundle from a registry or an archive (None for a local file):
        # it also pins the images, so a tag moved to a rebuilt image is a change.
        self.index_digest = index_digest
        self.parameters_fp = parameters_fp
        self.credentials_fp = credentials_fp
        self.action = action  # an ActionInfo, for intent "action"
        self.force = force


class Plan:
    def __init__(self, operation, changed, reason):
        self.operation = operation  # action name to run, or None
        self.changed = changed
        self.reason = reason

    def __repr__(self):
        return "Plan(%r, changed=%r, %r)" % (self.operation, self.changed, self.reason)


def drift(claim, desired):
    """Why ``claim`` differs from the desired inputs, or None when it does not."""
    recorded = runtime_custom(claim)
    reasons = []
    if recorded.get("bundleDigest") != desired.digest:
        reasons.append("the bundle digest changed")
    elif recorded.get("indexDigest") != desired.index_digest:
        if recorded.get("indexDigest") and desired.index_digest:
            reasons.append("the bundle's index digest changed (its images differ)")
        else:
            reasons.append("the bundle's source changed (local file or registry/archive)")
    if recorded.get("parametersFingerprint") != desired.parameters_fp:
        reasons.append("the parameters changed")
    if recorded.get("credentialsFingerprint") != desired.credentials_fp:
        reasons.append("the credentials changed")
    return " and ".join(reasons) or None


def _sync_reason(installation, desired):
    """None when the installation is in the desired state, else why not."""
    last = installation.last_modifying
    if installation.status_of(last) != STATUS_SUCCEEDED:
        return 'the last action "%s" did not succeed' % last["action"]
    return drift(installation.last_successful_modifying, desired)


def digest_decides(installation, intent, force=False):
    """False when ``decide`` returns the same plan whatever the desired bundle digest: an
    ``install`` of an installed installation (no force) is a no-op. A bundle given by tag
    then needs no registry round trip to resolve it."""
    return not (intent == "install" and installation.installed and not force)


def decide(installation, desired):
    intent = desired.intent
    name = installation.name
    if intent in ("uninstall", "absent"):
        last = installation.last_modifying
        if last is None:
            return Plan(None, False, "installation %s does not exist" % name)
        if last["action"] == "uninstall" and installation.status_of(last) == STATUS_SUCCEEDED and not desired.force:
            return Plan(None, False, "installation %s is already uninstalled" % name)
        return Plan("uninstall", True, "installation %s is to be removed" % name)

    if intent == "action":
        return _decide_custom(installation, desired)

    if not installation.installed:
        if intent == "upgrade":
            raise InstallationNotFound(
                "installation %s is not installed, so it cannot be upgraded; install it first." % name
            )
        return Plan("install", True, "installation %s is not installed" % name)
    if desired.force:
        return Plan(intent if intent != "present" else "upgrade", True, "force is set")
    if intent == "install":
        return Plan(None, False, "installation %s is already installed" % name)
    reason = _sync_reason(installation, desired)
    if reason is None:
        return Plan(None, False, "installation %s is up to date" % name)
    return Plan("upgrade", True, reason)


def _decide_custom(installation, desired):
    action = desired.action
    if action.stateless:
        return Plan(action.name, action.modifies, "stateless actions always run")
    if not installation.installed:
        raise InstallationNotFound(
            'installation %s is not installed, so action "%s" cannot run; install it first.'
            % (installation.name, action.name)
        )
    if not action.modifies:
        return Plan(action.name, False, "actions that do not modify always run and change nothing")
    last = installation.last_modifying
    if not desired.force and last["action"] == action.name and installation.status_of(last) == STATUS_SUCCEEDED:
        reason = drift(last, desired)
        if reason is None:
            return Plan(None, False, 'action "%s" already ran on the current state' % action.name)
        return Plan(action.name, True, reason)
    return Plan(action.name, True, 'action "%s" has not run on the current state' % action.name)
