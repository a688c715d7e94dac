"""Signing and verification around cnab_bundle's operations (oci/operations.py).

Before: the ``verify`` policy checks a source that is a registry reference or an archive, and the
reference is pinned to the index digest that verified, so the operation moves exactly what was
checked (its pull then verifies every digest below the index). The ``sign`` key is loaded.
After: a bundle written to a registry (push, copy, publish) is signed at its destination.
"""

from ansible_collections.cnab.runtime.plugins.module_utils.errors import RegistryError
from ansible_collections.cnab.runtime.plugins.module_utils.signing import gate, signer

ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar")
WRITES_TO_REGISTRY = ("push", "copy", "publish")


class Prepared:
    __slots__ = ("src", "private", "check")

    def __init__(self, src, private, check):
        self.src = src
        self.private = private
        self.check = check


def before(src, dest, sign_options, verify_options, registry_options):
    """Verify ``src`` under the policy and load the signing key when the operation writes to a
    registry (a key in the environment does not disturb other operations); returns Prepared
    (``src`` pinned to the verified digest)."""
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.operations import operation_for

    private = signer.load_signer(sign_options) if operation_for(src, dest) in WRITES_TO_REGISTRY else None
    policy = gate.policy_of(verify_options)
    check = None
    if policy.active and isinstance(src, str):
        if src.endswith(ARCHIVE_SUFFIXES):
            from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

            with ThickArchive(src) as archive:
                check = gate.check_archive(policy, archive)
        else:
            from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import (
                looks_like_reference,
                parse_reference,
            )

            if looks_like_reference(src):
                src, check = _check_reference(policy, parse_reference(src), registry_options)
    return Prepared(src, private, check)


def _check_reference(policy, reference, registry_options):
    from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient

    client = RegistryClient(registry_options, reference.registry)
    digest = reference.digest
    if digest is None:
        found = client.head_manifest(reference.repository, reference.ref)
        if found is None:
            raise RegistryError("The registry %s has no bundle %s; check the reference." % (reference.registry, reference))
        digest = found[0]
    check = gate.check_registry(policy, reference, digest, client)
    return str(reference.pinned(digest)), check


def after(prepared, result, dest, registry_options, dest_registry_options, check_mode):
    """Add ``verification`` and ``signature`` to the module ``result``; returns warnings."""
    warnings = []
    if prepared.check is not None:
        result["verification"] = prepared.check.record
        if prepared.check.warning:
            warnings.append(prepared.check.warning)
    if prepared.private is not None:
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
        from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

        reference = parse_reference(result.get("reference") or dest)
        client = RegistryClient(dest_registry_options or registry_options, reference.registry)
        signature = signer.sign_index(prepared.private, client, reference, result.get("digest"),
                                      result.get("bundle_digest"), check_mode)
        result["signature"] = signature
        if signature["added"]:
            result["changed"] = True
            diff = result.get("diff")
            if isinstance(diff, dict):
                diff["after"] = (diff.get("after") or "") + "%s signed by %s\n" % (reference.name, signature["fingerprint"])
    return warnings
