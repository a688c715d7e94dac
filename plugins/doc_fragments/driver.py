# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from ansible_collections.cnab.runtime.plugins.doc_fragments.kubernetes import connection_suboptions

# driver_options.namespace, which the action modules and cnab_driver_setup both take.
_NAMESPACE = r"""
      namespace:
        description:
          - V(kubernetes) - namespace of the Jobs and Secrets of runs. It must exist (role C(cnab.runtime.cnab_driver)
            creates it). Falls back to E(CNAB_DRIVER_NAMESPACE).
        type: str
        default: cnab
"""


_DRIVER_HEAD = r"""
options:
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
"""

_DRIVER_TAIL = r"""
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
"""

# Only the kubernetes driver's namespace and connection (adapter.CONCERNS["kubernetes_driver"]).
_SETUP_HEAD = r"""
options:
  driver_options:
    description:
      - The namespace and the connection of the V(kubernetes) driver, as the action modules take them in their
        C(driver_options) (so C(group/cnab.runtime.cnab_driver) sets both).
    type: dict
    suboptions:
"""


class ModuleDocFragment(object):
    """The driver and its settings (adapter.CONCERNS["driver"]): DOCUMENTATION; only the kubernetes driver's
    namespace and connection, for cnab_driver_setup: SETUP. Both are assembled below the class, because their
    driver_options hold the Kubernetes connection settings of kubernetes.py (written once) and a fragment's
    class body may only hold string literals (ansible-test's yamllint)."""


_CONNECTION = _NAMESPACE.strip("\n") + "\n" + connection_suboptions("driver_options", "the V(kubernetes) driver")
ModuleDocFragment.DOCUMENTATION = _DRIVER_HEAD + _CONNECTION + _DRIVER_TAIL
ModuleDocFragment.SETUP = _SETUP_HEAD + _CONNECTION
