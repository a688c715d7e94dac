"""The ``verify`` policy applied to a bundle about to be used: from a registry reference, a thick
archive or a local file. Called before anything runs, so a refusal starts no container.

Each check returns a ``Check``: the record a claim or a module result keeps (whether, by which key,
over which index digest) and, when the bundle is used although it did not verify, a warning.
"""

from ansible_collections.cnab.runtime.plugins.module_utils.signing import transport
from ansible_collections.cnab.runtime.plugins.module_utils.signing.verify import (
    UNSIGNED,
    Verdict,
    VerifyPolicy,
)


class Check:
    __slots__ = ("record", "warning")

    def __init__(self, record=None, warning=None):
        self.record = record
        self.warning = warning


def policy_of(options):
    """A VerifyPolicy from a ``verify`` option dict (or a policy, or None)."""
    return options if isinstance(options, VerifyPolicy) else VerifyPolicy.from_options(options)


def subject(document, where):
    document = document if isinstance(document, dict) else {}
    name, version = document.get("name"), document.get("version")
    label = 'bundle "%s"%s' % (name, " " + str(version) if version else "") if name else "the bundle"
    return "%s from %s" % (label, where) if where else label


def _decide(policy, verdict, document, where):
    warning = policy.enforce(verdict, subject(document, where))
    return Check(verdict.as_record(), warning)


def reused(policy, recorded_record, index_digest):
    """A Check from what a claim recorded for the same index digest, when it was verified by a key
    that is still trusted; None when the bundle must be checked again."""
    if not isinstance(recorded_record, dict) or not recorded_record.get("verified") or not index_digest:
        return None
    if recorded_record.get("indexDigest") != index_digest:
        return None
    if recorded_record.get("keyFingerprint") not in policy.trusted_fingerprints():
        return None
    return Check(dict(recorded_record))


def check_registry(options, reference, index_digest, client, document=None):
    """Verify the bundle at ``reference`` (oci.reference.Reference) whose index ``index_digest`` was
    fetched with ``client`` (oci.client.RegistryClient)."""
    policy = policy_of(options)
    if not policy.active:
        return Check()
    verdict = transport.verify_in_registry(client, reference.repository, index_digest, policy.trusted_keys())
    return _decide(policy, verdict, document, "%s@%s" % (reference.name, index_digest))


def check_archive(options, archive, document=None):
    """Verify the bundle in an open oci.archive.ThickArchive."""
    return _decide_archive(policy_of(options), archive, document, archive.path)


def _decide_archive(policy, archive, document, where):
    """The bundle ``archive`` was opened as (the root or a carried dependency) against its own index
    digest: a dependency is not covered by the root's signature."""
    if not policy.active:
        return Check()
    keys = policy.trusted_keys()
    if archive.index_digest is None:
        verdict = Verdict(UNSIGNED, "the archive holds no bundle index, so nothing in it can be signed")
        return _decide(policy, verdict, document or archive.document, where)
    verdict = transport.verify_in_archive(archive, archive.index_digest, keys)
    return _decide(policy, verdict, document or archive.document, where)


def check_local_file(options, document, path):
    """A bundle.json on disk carries no signature: refused when signatures are required."""
    policy = policy_of(options)
    if not policy.active:
        return Check()
    policy.trusted_keys()
    verdict = Verdict(UNSIGNED, "a local bundle.json carries no signature (signatures cover bundles in a registry"
                                " or a thick archive)")
    return _decide(policy, verdict, document, path)


def check_source(options, source, recorded=None):
    """Apply the policy to a sources.BundleSource (kind ``file``, ``archive`` or ``registry``).
    ``recorded`` is the claim the run compares with: its signature record is reused when it covers
    the same index digest and a key that is still trusted. With signatures not required, a bundle
    that cannot even be checked (registry down, archive gone) is used with a warning."""
    policy = policy_of(options)
    if not policy.active or source is None:
        return Check()
    from ansible_collections.cnab.runtime.plugins.module_utils.claims.model import runtime_custom
    from ansible_collections.cnab.runtime.plugins.module_utils.errors import CnabError, SignatureError

    record = runtime_custom(recorded).get("signature") if isinstance(recorded, dict) else None
    document, where = source.bundle.document, source.bundle.reference
    carried = getattr(source, "archive_dependency", None)  # a dependency an archive carries: its own signature
    if carried:
        where = "%s (dependency %s)" % (where, carried)
    try:
        if source.kind == "registry":
            from ansible_collections.cnab.runtime.plugins.module_utils.oci.client import RegistryClient
            from ansible_collections.cnab.runtime.plugins.module_utils.oci.reference import parse_reference

            reference = parse_reference(where)
            known = reused(policy, record, source.index_digest)
            if known is not None:
                return known
            client = RegistryClient(source.registry_options, reference.registry)
            return check_registry(policy, reference, source.index_digest, client, document)
        if source.kind == "archive":
            known = reused(policy, record, source.index_digest)
            if known is not None:
                return known
            from ansible_collections.cnab.runtime.plugins.module_utils.oci.archive import ThickArchive

            with ThickArchive(source.bundle.reference, dependency=carried) as archive:
                return _decide_archive(policy, archive, document, where)
        return check_local_file(policy, document, where)
    except SignatureError:
        raise
    except CnabError as exc:
        if policy.required:
            raise
        label = subject(document, where)
        return Check({"verified": False, "status": "unchecked", "keyFingerprint": None,
                      "indexDigest": source.index_digest, "reason": str(exc)},
                     "%s could not be verified (%s); it is used because verify.required is false."
                     % (label[:1].upper() + label[1:], str(exc).rstrip(".")))
