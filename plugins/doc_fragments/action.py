class ModuleDocFragment(object):
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
  driver:
    description:
      - Driver that runs the invocation image. Falls back to E(CNAB_DRIVER).
      - V(docker) runs it on a Docker engine, V(kubernetes) as a Job on a Kubernetes cluster reached from
        wherever the module runs (see the C(driver_options) of each).
      - Any other name is a driver plugin - a Python driver registered under that name in the entry point group
        C(cnab.runtime.drivers), else the executable C(cnab-<name>) on E(PATH), which speaks the contract of
        cnab-go's command driver (the operation as JSON on stdin, outputs written under E(CNAB_OUTPUT_DIR), exit
        status as the result). See C(docs/drivers.md).
    type: str
    default: docker
  driver_options:
    description: Settings of the driver.
    type: dict
    suboptions:
      docker_host:
        description: Docker engine address. Falls back to E(DOCKER_HOST), then the default socket.
        type: str
      tls_verify:
        description: Verify the Docker engine's TLS certificate. Falls back to E(DOCKER_TLS_VERIFY).
        type: bool
      cert_path:
        description: Directory with C(ca.pem), C(cert.pem) and C(key.pem). Falls back to E(DOCKER_CERT_PATH).
        type: path
      pull:
        description:
          - When to pull the invocation image. Falls back to E(CNAB_DOCKER_PULL).
        type: str
        default: missing
        choices: [missing, always, never]
      network:
        description: Docker network mode of the invocation container. Falls back to E(CNAB_DOCKER_NETWORK).
        type: str
      keep_container:
        description:
          - Keep the stopped invocation container for debugging instead of removing it.
          - The kept container holds the credentials and sensitive parameters in its environment and files;
            remove it when done.
        type: bool
        default: false
      stop_timeout:
        description: Seconds a canceled container gets to stop before it is killed.
        type: int
        default: 10
      api_version:
        description:
          - Docker Engine API version to speak. V(auto) negotiates it with the engine (one request per run).
            Falls back to E(DOCKER_API_VERSION), then V(auto).
        type: str
      allow_docker_host_access:
        description:
          - V(docker) - let bundles that require Porter's extension C(io.cnab.docker) run. Their invocation container
            gets the socket of the Docker engine it runs on, mounted at C(/var/run/docker.sock), with the socket's
            group, and C(--privileged) when the bundle's C(io.cnab.docker) value asks for it.
          - B(This gives the bundle root on the engine's host.) Allow it only for bundles you trust as you trust
            that host's root user. See C(docs/security.md).
          - Only for an engine reached through a unix socket (the default socket, or O(driver_options.docker_host)
            V(unix:///path)); an engine over TCP or SSH, and the V(kubernetes) and plugin drivers, refuse such bundles.
          - Without it such a bundle is refused before anything runs or is recorded.
            Falls back to E(CNAB_ALLOW_DOCKER_HOST_ACCESS).
        type: bool
        default: false
      timeout:
        description:
          - Seconds the invocation image may run before it is stopped and the action fails.
            Unlimited when unset (V(kubernetes) - 3600, its Job's C(activeDeadlineSeconds)).
            Falls back to E(CNAB_DRIVER_TIMEOUT).
        type: int
      namespace:
        description:
          - V(kubernetes) - namespace of the Jobs and Secrets of runs. It must exist (role C(cnab.runtime.cnab_driver)
            creates it). Falls back to E(CNAB_DRIVER_NAMESPACE).
        type: str
        default: cnab
      kubeconfig:
        description:
          - V(kubernetes) - kubeconfig file. Falls back to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG), then the
            in-cluster service account, then C(~/.kube/config).
        type: path
      context:
        description: V(kubernetes) - kubeconfig context. Falls back to E(K8S_AUTH_CONTEXT).
        type: str
      host:
        description:
          - V(kubernetes) - API server URL, used with O(driver_options.api_key) instead of a kubeconfig.
            Falls back to E(K8S_AUTH_HOST).
        type: str
      api_key:
        description: V(kubernetes) - bearer token for O(driver_options.host). Falls back to E(K8S_AUTH_API_KEY).
        type: str
      ca_cert:
        description: V(kubernetes) - CA certificate of the API server. Falls back to E(K8S_AUTH_SSL_CA_CERT).
        type: path
      validate_certs:
        description: V(kubernetes) - verify the API server's certificate. Falls back to E(K8S_AUTH_VERIFY_SSL).
        type: bool
      service_account:
        description:
          - V(kubernetes) - ServiceAccount the invocation pod runs as, with its token mounted. When unset the pod
            gets no token at all. Falls back to E(CNAB_DRIVER_SERVICE_ACCOUNT).
        type: str
      image_pull_secrets:
        description: V(kubernetes) - names of C(kubernetes.io/dockerconfigjson) Secrets the pod pulls images with.
        type: list
        elements: str
      node_selector:
        description: V(kubernetes) - node selector of the invocation pod.
        type: dict
      tolerations:
        description: V(kubernetes) - tolerations of the invocation pod, as in a pod spec.
        type: list
        elements: dict
      resources:
        description: V(kubernetes) - C(requests) and C(limits) of the invocation container, as in a pod spec.
        type: dict
      labels:
        description: V(kubernetes) - extra labels of the Job, its pod and its Secret.
        type: dict
      annotations:
        description: V(kubernetes) - extra annotations of the Job, its pod and its Secret (C(cnab.io/) keys are reserved).
        type: dict
      keep_resources:
        description:
          - V(kubernetes) - keep the finished Job, its pod and its Secret for debugging instead of deleting them
            (and set no C(ttlSecondsAfterFinished)). The Secret holds the credentials; delete the Job when done.
        type: bool
        default: false
      ttl_seconds:
        description:
          - V(kubernetes) - C(ttlSecondsAfterFinished) of the Job - the cluster deletes the Job, its pod and its
            Secret this long after it ended, even when the module that started it was killed.
        type: int
        default: 300
      helper_image:
        description:
          - V(kubernetes) - image of the init container that copies the run's files from its Secret into writable
            volumes and provides the shell that frames the outputs; it must hold a static C(/bin/busybox).
            Defaults to C(docker.io/library/busybox:1.36.1). Falls back to E(CNAB_K8S_HELPER_IMAGE).
        type: str
      config:
        description:
          - Settings of a driver plugin. A C(cnab-<name>) executable gets them as environment variables, a Python
            driver as C(options["config"]). Do not put secrets here; pass them through the plugin's environment.
        type: dict
  registry_auth:
    description:
      - How to reach the registry of a O(bundle) given as a registry reference (and to pull its images through the
        Docker engine). Without credentials, those of the Docker config file are used, else the registry is read
        anonymously.
    type: dict
    suboptions:
      username:
        description: User name for the registry. Falls back to E(CNAB_REGISTRY_USERNAME).
        type: str
      password:
        description: Password of O(registry_auth.username). Falls back to E(CNAB_REGISTRY_PASSWORD).
        type: str
      token:
        description: Identity (refresh) token for the registry, instead of a password. Falls back to E(CNAB_REGISTRY_TOKEN).
        type: str
      docker_config:
        description:
          - Directory holding the Docker C(config.json) whose credentials (C(auths), C(credHelpers), C(credsStore))
            are used when no username or token is given. Falls back to E(DOCKER_CONFIG), then C(~/.docker).
        type: path
      ca_cert:
        description: CA bundle that signs the registry's TLS certificate. Falls back to E(CNAB_REGISTRY_CA_CERT).
        type: path
      insecure:
        description:
          - Reach a non-loopback registry over plain HTTP or without TLS verification. Registries on loopback
            addresses are reached over plain HTTP without it, as Docker does. Falls back to E(CNAB_REGISTRY_INSECURE).
        type: bool
        default: false
      timeout:
        description: Seconds to wait for each registry request. Falls back to E(CNAB_REGISTRY_TIMEOUT).
        type: int
        default: 60
      retries:
        description: How many times a refused connection or a server error is retried.
        type: int
        default: 3
  verify:
    description:
      - Signature policy for a O(bundle) (or C(cnab.runtime.cnab_bundle)'s C(src)) given as a registry reference or
        a thick archive. A bundle verifies when one of its cosign signatures (the manifest tagged
        C(sha256-<hex>.sig) next to its index, or carried in the archive) is valid for one of O(verify.keys) and names
        the digest of the bundle index actually fetched; bundle.json and every image are then checked by digest
        from that index down.
      - Checked before anything runs, so a refused bundle starts no container. The claim records whether the bundle
        was verified and the fingerprint of the key (see C(cnab.runtime.cnab_claim_info)).
      - Set it once for a whole play with C(module_defaults) for C(group/cnab.runtime.cnab), or with the environment
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

    CLAIM_STORE = r"""
options:
  claim_store:
    description:
      - Where claims are kept. Every backend gives the same records, the same per-installation lock and the
        same decisions, so a playbook behaves the same whichever store it uses.
    type: dict
    suboptions:
      backend:
        description:
          - V(local) keeps claims in a directory. V(kubernetes) keeps them as Secrets in a namespace with a
            C(coordination.k8s.io/v1) Lease as the lock. V(azure_blob) keeps them as blobs in a container with a
            blob lease as the lock.
          - V(porter_v0) reads the claims of Porter v0.38 (its home directory, or the blob container of its
            C(azure.blob) plugin) as Claims 1.0 records. It is read-only - the source of
            M(cnab.runtime.cnab_claim_copy), or read by M(cnab.runtime.cnab_claim_info); any run that would write,
            lock or delete fails. See C(docs/migrating-from-porter.md).
          - Falls back to E(CNAB_CLAIM_STORE).
        type: str
        default: local
        choices: [local, kubernetes, azure_blob, porter_v0]
      path:
        description:
          - Directory of the V(local) store. Defaults to E(CNAB_HOME), then C(~/.cnab).
          - V(porter_v0) - Porter's home directory. Defaults to E(PORTER_HOME), then C(~/.porter), unless
            O(claim_store.connection_string) or O(claim_store.account_url) is given, which selects the blob container
            O(claim_store.container) instead.
        type: path
      namespace:
        description: Namespace of the V(kubernetes) store. Falls back to E(CNAB_CLAIM_NAMESPACE).
        type: str
        default: cnab
      kubeconfig:
        description:
          - Kubeconfig file of the V(kubernetes) store. Falls back to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG),
            then the in-cluster service account, then C(~/.kube/config).
        type: path
      context:
        description: Kubeconfig context. Falls back to E(K8S_AUTH_CONTEXT).
        type: str
      host:
        description: Kubernetes API server URL, used with O(claim_store.api_key). Falls back to E(K8S_AUTH_HOST).
        type: str
      api_key:
        description: Bearer token for O(claim_store.host). Falls back to E(K8S_AUTH_API_KEY).
        type: str
      ca_cert:
        description: CA certificate of the API server. Falls back to E(K8S_AUTH_SSL_CA_CERT).
        type: path
      validate_certs:
        description: Verify the API server's certificate. Falls back to E(K8S_AUTH_VERIFY_SSL).
        type: bool
      container:
        description:
          - Blob container of the V(azure_blob) store. Falls back to E(CNAB_CLAIM_CONTAINER), then C(cnab-claims).
          - V(porter_v0) - the container of Porter's C(azure.blob) plugin. Defaults to C(porter), the plugin's.
        type: str
      connection_string:
        description: Azure Storage connection string. Falls back to E(AZURE_STORAGE_CONNECTION_STRING).
        type: str
      account_url:
        description:
          - Blob service URL, used with O(claim_store.account_key) or O(claim_store.sas_token) instead of a
            connection string. Falls back to E(AZURE_STORAGE_ACCOUNT_URL).
        type: str
      account_key:
        description: Storage account key. Falls back to E(AZURE_STORAGE_KEY).
        type: str
      sas_token:
        description: Shared access signature. Falls back to E(AZURE_STORAGE_SAS_TOKEN).
        type: str
      encryption_key:
        description:
          - Key that encrypts sensitive values in the V(azure_blob) store (any string; a key is derived from it).
            Runs that would store a sensitive value fail without it. Falls back to E(CNAB_CLAIM_ENCRYPTION_KEY).
        type: str
      lease_seconds:
        description:
          - Lifetime of a remote lock's lease, renewed while the run holds it. A run that died loses its lock
            after this long. Falls back to E(CNAB_LEASE_SECONDS).
        type: int
        default: 30
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    description: Resolves and validates the bundle, parameters and credentials and reports the decision without running a modifying action.
  diff_mode:
    support: full
    description: Returns the bundle version, digest and parameters before and after, sensitive values masked.
  action_group:
    description: Use C(group/cnab.runtime.cnab) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cnab.runtime.cnab
"""

    # For the group's modules that take the action options only so that module_defaults apply.
    GROUP_OPTIONS = r"""
options:
  installation:
    description: Accepted for C(module_defaults) of the action group; ignored.
    type: str
  reveal_sensitive:
    description: Accepted for C(module_defaults) of the action group; ignored.
    type: bool
    default: false
attributes:
  action_group:
    description: Use C(group/cnab.runtime.cnab) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - cnab.runtime.cnab
"""
