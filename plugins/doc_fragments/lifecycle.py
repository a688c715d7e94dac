# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # What one run of an installation takes (adapter.CONCERNS["lifecycle"]). Each module documents its
    # own installation option; cnab_install makes bundle required.
    DOCUMENTATION = r"""
options:
  bundle:
    description:
      - Path to a C(bundle.json) file, or to a directory that holds one.
      - Or a thick bundle archive, a path ending in C(.tgz), C(.tar.gz) or C(.tar). The invocation image is loaded
        into the Docker engine from the archive, so no registry is needed.
      - Or a registry reference C(host[:port]/repository:tag) or C(host[:port]/repository@sha256:...), reached with
        O(registry_auth). The bundle's relocated, digest-pinned invocation image is run, and the relocation mapping
        is given to it as C(/cnab/app/relocation-mapping.json).
      - The claims record the reference and, for an archive or a registry, the bundle's index digest. A tag is
        resolved with one request to decide whether anything changed; a tag moved to another digest is an upgrade.
      - Falls back to the environment variable E(CNAB_BUNDLE).
    type: str
  parameters:
    description:
      - Values of the bundle's parameters, by name. Each is validated against its definition
        (JSON Schema draft-07) before anything runs; definition defaults fill the gaps.
      - Strings are read as JSON when the definition does not accept a string, so V(8080) given as text is an integer.
      - Values of parameters whose definition is C(writeOnly) are never printed, logged or written to claim records.
      - File parameters (Porter's C(sh.porter.file-parameters) - a C(type=string), C(contentEncoding=base64) parameter
        with a C(path) destination, in a bundle built by Porter or declaring the extension) take their content as a
        string, or a dict with the one key C(path) (a file on the target, read with its bytes preserved). The destination gets the
        base64 text (Porter's runtime in the image decodes it), an unset one the text C(null). Claims record the
        encoded value, so the decision compares the content, not the path.
      - Parameters with an C(io.cnab.parameter-sources) output source (Porter's C(porter-state), for one) that are not
        given take the value of that output from the installation's latest successful modifying action that
        produced it (its base64 for a file parameter), else their default. Such values change with every run, so they
        are neither recorded in the claim (which names the output and result they came from) nor compared.
    type: dict
  credentials:
    description:
      - Credential values by name. A value is a string, or a dict with one key
        C(value), C(env) (read an environment variable of the target) or C(path) (read a file on the target).
      - Credentials the bundle does not declare are ignored, so one set can serve several bundles.
      - Never stored; changes are detected with a keyed fingerprint.
    type: dict
  lock_timeout:
    description:
      - Seconds to wait for another run on the same installation to release its lock before failing.
        Falls back to E(CNAB_LOCK_TIMEOUT).
    type: int
    default: 300
  dependencies:
    description:
      - Options of the bundle's dependencies (extension C(io.cnab.dependencies)), by alias. Each dependency is
        its own installation named C(<installation>-<alias>) in the same claim store, run with the same driver.
      - Install and upgrade run the dependencies first, in the order of the bundle's C(sequence) (when it lists
        every alias) or of C(requires), then the root; uninstall runs the root first, then the dependencies in
        reverse order; custom actions run on the root only.
      - C(parameters) and C(credentials) take the same forms as O(parameters) and O(credentials). The root's
        credentials whose names a dependency declares are passed to it unless C(credentials) overrides them.
      - C(bundle) replaces where the dependency's bundle comes from (a path, a thick archive or a registry
        reference, as O(bundle)), for mirrors and air gaps; its version must still satisfy the ranges.
        Without it the bundle's own reference is used, a tag-less one resolved to the highest SemVer tag
        satisfying every range.
    type: dict
  force:
    description: Run the action even when the claims say the installation is already in the requested state.
    type: bool
    default: false
  break_lock:
    description:
      - Break the installation's lock before taking it. For operators, when a remote lock's holder is known to be
        gone and waiting for its lease to expire is not wanted. A live local holder cannot be broken.
    type: bool
    default: false
  reveal_sensitive:
    description:
      - Return the values of sensitive (C(writeOnly)) outputs in RV(outputs) instead of a mask.
        They then appear wherever the task result is shown.
      - Credentials and sensitive parameter values stay masked, also inside a revealed output.
    type: bool
    default: false
"""

    # The attributes, notes and requirements of the mutating modules (cnab_install, cnab_upgrade,
    # cnab_uninstall, cnab_installation, cnab_action).
    ACTION = r"""
attributes:
  check_mode:
    support: full
    description: Resolves and validates the bundle, parameters and credentials and reports the decision without running a modifying action.
  diff_mode:
    support: full
    description: Returns the bundle version, digest and parameters before and after, sensitive values masked.
  action_group:
    description:
      - Use C(group/cnab.runtime.cnab) (every option), C(group/cnab.runtime.cnab_claims) (O(claim_store)),
        C(group/cnab.runtime.cnab_driver) (O(driver_options), its kubernetes connection and namespace) or
        C(group/cnab.runtime.cnab_registry) (O(registry_auth), O(verify)) in C(module_defaults) to set defaults
        for this module.
    support: full
    membership:
      - cnab.runtime.cnab
      - cnab.runtime.cnab_claims
      - cnab.runtime.cnab_driver
      - cnab.runtime.cnab_registry
notes:
  - The decision to act is taken from the claims alone. The bundle digest (RFC 8785 canonical JSON),
    the resolved parameters and a keyed fingerprint of the credentials are compared with those of the last successful
    modifying claim. Check mode makes the same decision without running the invocation image.
  - The installation is locked for the whole run; a concurrent run waits up to O(lock_timeout).
    SIGINT or SIGTERM stops the container, keeps its outputs and records the claim as C(canceled).
requirements:
  - docker (Python SDK), for O(driver=docker)
  - kubernetes (Python client), for O(driver=kubernetes)
  - jsonschema
  - rfc8785
  - python-ulid
  - semantic-version, for bundles with dependencies
"""
