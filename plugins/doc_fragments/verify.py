# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The signature policy for the bundles a module reads (adapter.CONCERNS["verify"]).
    DOCUMENTATION = r"""
options:
  verify:
    description:
      - Signature policy for a bundle (the C(bundle) of the action modules, or the C(src) of
        M(cnab.runtime.cnab_bundle)) given as a registry reference or
        a thick archive. A bundle verifies when one of its cosign signatures (the manifest tagged
        C(sha256-<hex>.sig) next to its index, or carried in the archive) is valid for one of O(verify.keys) and names
        the digest of the bundle index actually fetched; bundle.json and every image are then checked by digest
        from that index down.
      - Checked before anything runs, so a refused bundle starts no container. The claim records whether the bundle
        was verified and the fingerprint of the key (see C(cnab.runtime.cnab_claim_info)).
      - Set it once for a whole play with C(module_defaults) for C(group/cnab.runtime.cnab_registry)
        (every module that takes it) or C(group/cnab.runtime.cnab) (the action modules), or with the environment
        (for example from an AWX credential).
    type: dict
    suboptions:
      keys:
        description:
          - Public keys (PEM, as C(cosign generate-key-pair) or M(cnab.runtime.cnab_signing_key) write them) whose
            signatures are trusted. Falls back to E(CNAB_VERIFY_KEYS), a comma-separated list of paths.
          - Without keys and with O(verify.required=false), nothing is checked.
        type: list
        elements: path
      required:
        description:
          - V(true) refuses a bundle that is unsigned, signed by no key of O(verify.keys), or whose signature names
            another digest, with a one-sentence error naming the bundle and the reason. A local C(bundle.json)
            carries no signature, so it is refused too.
          - V(false) uses such a bundle with a warning (when keys are given). Falls back to E(CNAB_VERIFY_REQUIRED).
        type: bool
        default: false
"""
