"""Typed errors raised by the runtime.

Library code raises these; only the Ansible adapter turns them into
``fail_json(msg=...)``. Every message is one sentence a user can act on.
"""


class CnabError(Exception):
    """Base class of every error the runtime raises on purpose."""


class BundleError(CnabError):
    """The bundle cannot be found, read or parsed."""


class BundleValidationError(BundleError):
    """The bundle.json does not satisfy the CNAB schema or its rules."""


class UnsupportedExtensionError(BundleValidationError):
    """The bundle requires an extension this runtime does not implement."""


class ParameterError(CnabError):
    """A parameter is unknown, missing or outside its definition."""


class CredentialError(CnabError):
    """A required credential is missing or a credential source is unusable."""


class ActionError(CnabError):
    """The requested action is unknown or cannot run in this state."""


class InstallationNotFound(ActionError):
    """The action needs an installation that does not exist."""


class ClaimStoreError(CnabError):
    """The claim store cannot be read or written."""


class LockTimeout(ClaimStoreError):
    """Another run holds the installation's lock for longer than allowed."""


class DriverError(CnabError):
    """The driver could not run the invocation image."""


class ImageNotFound(DriverError):
    """The invocation image is neither local nor pullable."""


class ImageDigestMismatch(DriverError):
    """The invocation image does not match the bundle's contentDigest."""


class Cancelled(CnabError):
    """The run was interrupted by SIGINT or SIGTERM."""


class InvalidReference(BundleError):
    """A string is not a valid OCI reference (host[:port]/repository[:tag][@digest])."""


class RegistryError(BundleError):
    """An OCI registry cannot be reached or refused an operation."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (or their absence)."""


class ManifestRefused(RegistryError):
    """The registry refused a manifest's form (HTTP 400, 415 or 422 to its PUT): a fallback form may pass."""


class ContentDigestMismatch(BundleError):
    """Content read from a registry or archive does not match its digest."""


class NotABundleIndex(BundleError):
    """An image index (or other manifest) that is not a CNAB bundle index."""


class ArchiveError(BundleError):
    """A thick bundle archive cannot be written, read, or is unsafe or corrupt."""


class ArchiveLacksDependency(ArchiveError):
    """A thick bundle archive does not carry the dependency asked for."""


class SignatureError(BundleError):
    """A signature is missing, invalid or does not match the bundle."""


class SigningKeyError(SignatureError):
    """A signing or verification key cannot be read, decrypted, used or written."""


class MissingLibrary(CnabError):
    """A Python package the requested work needs is not installed where the module runs.

    Raised through ``require_library`` only; the adapter turns it into Ansible's
    ``missing_required_lib`` sentence. Each raise is also an instance of the error kind its
    caller names (a ClaimStoreError for a store, a DriverError for a driver...)."""

    def __init__(self, package, needed_for):
        self.package = package
        self.needed_for = needed_for
        super().__init__('%s needs the Python package %s on the host that runs the module (pip install "%s").'
                         % (needed_for, package, package))


_MISSING_KINDS = {}


def require_library(name, package, needed_for, kind=CnabError):
    """Import and return the module ``name`` (of the pip package ``package``), or raise a
    ``MissingLibrary`` that is also a ``kind``; ``needed_for`` starts the sentence ("the docker driver")."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        error = _MISSING_KINDS.get(kind)
        if error is None:
            error = MissingLibrary if issubclass(MissingLibrary, kind) else type("Missing" + kind.__name__, (MissingLibrary, kind), {})
            _MISSING_KINDS[kind] = error
        raise error(package, needed_for) from exc


class DependencyError(BundleError):
    """A dependency of a bundle (io.cnab.dependencies) cannot be resolved, or its run failed."""


class ReadOnlyStoreError(ClaimStoreError):
    """A write, lock or delete asked of a store that can only be read (porter_v0)."""
