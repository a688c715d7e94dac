#!/usr/bin/python
# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cnab_bundle
short_description: Push, pull, copy, archive and publish CNAB bundles in OCI registries
version_added: 0.1.0
description:
  - Moves a CNAB bundle between a local C(bundle.json), OCI registries and thick bundle archives, in the layout
    cnab-to-oci and Porter use, so their tools can read what this module writes and the other way round.
  - The operation follows from O(src) and O(dest). A C(bundle.json) (or its directory) to a reference is a push;
    a reference to a reference is a copy; anything to a path ending in C(.tgz), C(.tar.gz) or C(.tar) is an archive;
    an archive to a reference is a publish; a reference to a directory or C(.json) path is a pull; a reference
    alone is an inspection.
  - A push copies every image the bundle names into the bundle's repository first, from its registry (mounted
    within one registry, streamed across registries) or, when only the local Docker engine has it, exported from
    the engine with uncompressed layers. Then bundle.json and the bundle index follow; the tag moves last, so a
    failure never leaves a tag pointing at a partial bundle.
  - Whatever the destination already holds is skipped, so repeating an operation moves nothing and reports no
    change. Every blob and manifest is checked against its digest on the way.
  - An archive holds C(bundle.json), C(relocation-mapping.json) and an OCI image layout of the bundle index and
    every image under C(artifacts/layout/). It is written to a temporary file and renamed into place. Reading one
    refuses absolute paths, C(..), links leaving the archive, devices and duplicate names.
  - The archive of a bundle with dependencies (C(io.cnab.dependencies)) also carries every dependency, resolved
    by its version ranges as an install resolves it, under C(dependencies/<alias>/) (its C(bundle.json) and
    C(relocation-mapping.json); its images and signatures in the shared layout), so an install from that one
    archive needs no registry. A dependency's own dependencies are carried too, nested under its directory.
    O(dependencies=false) leaves them out.
  - With O(dependencies=true), push, copy and publish carry every dependency (and theirs) along, each before the
    root, as a copy (or, from an archive, a publish) of its bundle, images and signatures, in a repository of its own
    next to O(dest) - the registry of O(dest), the repository of O(dest) with its last component replaced by the last
    component of the dependency's repository, under the tag it was resolved to (C(reg1/lib/mysql) resolved to
    C(v1.4.0), pushed with O(dest=reg2/site/wordpress:v1), goes to C(reg2/site/mysql:v1.4.0)). An install of the
    root from O(dest) resolves its dependencies there first.
options:
  src:
    description:
      - A C(bundle.json) file or a directory holding one, a registry reference C(host[:port]/repository:tag) or
        C(host[:port]/repository@sha256:...), or a thick bundle archive.
    type: str
    required: true
  dest:
    description:
      - A registry reference C(host[:port]/repository:tag), an archive path ending in C(.tgz), C(.tar.gz) or C(.tar),
        or (when O(src) is a reference) a directory to write C(bundle.json) and C(relocation-mapping.json) into, or
        a C(.json) file path.
      - Omit it to inspect the bundle at O(src).
    type: str
  dependencies:
    description:
      - V(true) carries the bundle's dependencies along a push, copy or publish (see the description); by default they
        are not carried.
      - V(false) leaves them out of an archive; by default an archive carries them.
      - Refused for pull and inspect.
    type: bool
  compression:
    description: Compression of a written archive. V(gzip) is level 6, V(fast) level 1, V(best) level 9.
    type: str
    default: gzip
    choices: [gzip, fast, best, none]
  dest_registry_auth:
    description:
      - Connection settings for the registry of O(dest), when they differ from O(registry_auth) (for a copy between
        registries). Takes no environment fallbacks. O(registry_auth) is used when omitted.
    type: dict
    suboptions:
      username:
        description: User name for the destination registry.
        type: str
      password:
        description: Password of O(dest_registry_auth.username).
        type: str
      token:
        description: Identity (refresh) token for the destination registry.
        type: str
      docker_config:
        description: Directory holding a Docker C(config.json) with the destination's credentials.
        type: path
      ca_cert:
        description: CA bundle that signs the destination registry's TLS certificate.
        type: path
      insecure:
        description: Reach a non-loopback destination registry over plain HTTP or without TLS verification.
        type: bool
        default: false
      timeout:
        description: Seconds to wait for each request.
        type: int
        default: 60
      retries:
        description: How many times a refused connection or a server error is retried.
        type: int
        default: 3
extends_documentation_fragment:
  - cnab.runtime.registry
  - cnab.runtime.verify
  - cnab.runtime.signing
attributes:
  action_group:
    description: Use C(group/cnab.runtime.cnab_registry) (O(registry_auth), O(verify)) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cnab.runtime.cnab_registry
  check_mode:
    support: full
    description: Reads the source and the destination and reports what would be written, writing nothing.
  diff_mode:
    support: full
    description: Shows the destination's digest before and after.
author:
  - cnab.runtime maintainers (@cnab-runtime)
notes:
  - O(verify) applies to a O(src) that is a reference or an archive (inspect, pull, copy, archive, publish).
    O(registry_auth) is used for the registry of O(src), the images' registries and, unless O(dest_registry_auth) is
    given, the registry of O(dest). Explicit credentials are sent only to the registries of O(src) and O(dest);
    other registries get the Docker config file's credentials.
  - Registries on loopback addresses are reached over plain HTTP, as Docker does.
  - Images exported from the local Docker engine get uncompressed layers, so their digests are stable across exports.
    An image whose bundle.json C(contentDigest) names a registry digest must be in that registry.
  - The config manifest and the bundle index a push writes are, byte for byte, what cnab-to-oci (and so Porter) writes
    for the same bundle, so the index digest, and a signature over it, is the same whichever tool pushed it. A registry
    that refuses a manifest form gets cnab-to-oci's fallbacks (the OCI image config media type, then a Docker schema2
    config manifest; a Docker manifest list for the index).
"""

EXAMPLES = r"""
- name: Push a bundle and its images to a registry
  cnab.runtime.cnab_bundle:
    src: bundles/app/bundle.json
    dest: registry.example.com/bundles/app:1.0.0
    registry_auth:
      username: ci
      password: "{{ registry_password }}"
  register: pushed

- name: Make a thick archive for an air-gapped site
  cnab.runtime.cnab_bundle:
    src: registry.example.com/bundles/app:1.0.0
    dest: /srv/transfer/app-1.0.0.tgz

- name: Publish the archive to the site's registry
  cnab.runtime.cnab_bundle:
    src: /srv/transfer/app-1.0.0.tgz
    dest: registry.internal/bundles/app:1.0.0

- name: Copy a bundle between registries, digests unchanged
  cnab.runtime.cnab_bundle:
    src: registry.example.com/bundles/app@sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
    dest: registry.internal/bundles/app:1.0.0
    dest_registry_auth:
      docker_config: /etc/cnab/internal-registry

- name: Push a bundle with its dependencies, each placed next to it (registry.internal/site/mysql:v1.4.0, ...)
  cnab.runtime.cnab_bundle:
    src: bundles/wordpress/bundle.json
    dest: registry.internal/site/wordpress:0.1.0
    dependencies: true

- name: Inspect a bundle in a registry
  cnab.runtime.cnab_bundle:
    src: registry.example.com/bundles/app:1.0.0
  register: bundle
"""

RETURN = r"""
operation:
  description: What was done, from the forms of O(src) and O(dest).
  returned: always
  type: str
  choices: [push, copy, archive, publish, pull, inspect]
  sample: push
reference:
  description: The destination (for push, copy, publish) or source (pull, inspect) pinned by the bundle index digest.
  returned: except for archive
  type: str
  sample: registry.example.com/bundles/app:1.0.0@sha256:24576f4e9e4d9e5fdb56dbd85a1f90dd77229df0ad450108dcf4f27a7f20ae79
digest:
  description:
    - Digest of the bundle index. Null in check mode for a push whose images would first be exported from the
      local Docker engine.
  returned: always
  type: str
  sample: sha256:24576f4e9e4d9e5fdb56dbd85a1f90dd77229df0ad450108dcf4f27a7f20ae79
bundle_digest:
  description: Digest of the bundle.json bytes as stored (canonical JSON for a push).
  returned: always
  type: str
  sample: sha256:5290c42e3af1638f28684af6f49fdf45d338a31b711ac0803ac41a84a36f6c54
relocation_mapping:
  description: Each image reference of bundle.json to the digest-pinned copy in the bundle's repository or archive.
  returned: always
  type: dict
  sample: {"example/app:1.0.0": "registry.example.com/bundles/app@sha256:5f2b5274781a06d3a3f2e7ff01bef674db057268ad03ee7e5528ea38bf753152"}
transfer:
  description: Counts of blobs and manifests written or skipped, and whether the tag moved.
  returned: for push, copy and publish
  type: dict
  sample: {blobs_uploaded: 3, blobs_mounted: 0, blobs_skipped: 1, bytes_uploaded: 2128272, manifests_written: 2,
           manifests_skipped: 0, tag_moved: true, tag_before: null}
dependencies:
  description:
    - The dependencies the archive carries, by alias (a nested one by the aliases on its way, joined by C(/)), each with
      the C(reference) it was resolved to and the C(digest) of its bundle index.
    - For push, copy and publish with O(dependencies=true), the dependencies carried, keyed the same way, each with its
      C(source), the C(reference) it was placed at pinned by its C(digest), whether it C(changed) and its C(transfer).
  returned: for archive, when the bundle has dependencies; for push, copy and publish with O(dependencies=true)
  type: dict
  sample: {mysql: {reference: "registry.example.com/bundles/mysql:v1.4.0",
                   digest: "sha256:5f2b5274781a06d3a3f2e7ff01bef674db057268ad03ee7e5528ea38bf753152"}}
path:
  description: The archive written (archive), or the bundle.json written (pull).
  returned: for archive and pull
  type: str
  sample: /srv/transfer/app-1.0.0.tgz
signature:
  description:
    - The signature made with O(sign.key) - its tag, the digest of the signature manifest, the key's fingerprint, and
      whether it was added (V(false) when that key had already signed this digest).
  returned: when O(sign.key) is set and the bundle is written to a registry
  type: dict
  sample: {tag: sha256-24576f4e9e4d9e5fdb56dbd85a1f90dd77229df0ad450108dcf4f27a7f20ae79.sig, added: true,
           digest: "sha256:9b1e0f4c5d2a3b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6",
           fingerprint: "sha256:5f2a0c4e9d3b8a1f6e7c2d4b9a0e1f3c5d7b9a2e4c6f8a0b1d3e5f7a9c2b4d6e"}
verification:
  description:
    - How O(src) fared under O(verify) - V(verified), C(status) (V(verified), V(unsigned), V(untrusted), V(mismatch),
      V(invalid)), the fingerprint of the key that verified it, the index digest and the reason.
  returned: when O(verify) names keys or requires signatures and O(src) is a reference or an archive
  type: dict
  sample: {verified: true, status: verified, reason: "it is signed by key /etc/cnab/cosign.pub (sha256:5f2a...)",
           keyFingerprint: "sha256:5f2a0c4e9d3b8a1f6e7c2d4b9a0e1f3c5d7b9a2e4c6f8a0b1d3e5f7a9c2b4d6e",
           indexDigest: "sha256:24576f4e9e4d9e5fdb56dbd85a1f90dd77229df0ad450108dcf4f27a7f20ae79"}
name:
  description: The bundle's name.
  returned: for pull and inspect
  type: str
  sample: app
version:
  description: The bundle's version.
  returned: for pull and inspect
  type: str
  sample: 1.0.0
"""

# Before any other import of ours: compile each of our files in the payload once, not twice (see payload_imports).
from ansible_collections.cnab.runtime.plugins.module_utils.payload_imports import compile_once

compile_once()

from ansible_collections.cnab.runtime.plugins.module_utils.adapter_bundle import run_bundle_module


def main():
    run_bundle_module()


if __name__ == "__main__":
    main()
