# Copyright: (c) 2026, cnab.runtime contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes connection settings, written once for the two options that take them
(adapter.KUBERNETES_CONNECTION): claim_store (doc fragment claim_store) and driver_options (doc fragment
driver). Not a fragment itself: those fragments put this text among their suboptions."""

_CONNECTION = r"""
      kubeconfig:
        description:
          - Kubeconfig file of {subject}. Falls back to E(K8S_AUTH_KUBECONFIG), then E(KUBECONFIG), then the
            in-cluster service account, then C(~/.kube/config).
        type: path
      context:
        description: Kubeconfig context of {subject}. Falls back to E(K8S_AUTH_CONTEXT).
        type: str
      host:
        description:
          - API server URL of {subject}, used with O({option}.api_key) instead of a kubeconfig.
            Falls back to E(K8S_AUTH_HOST).
        type: str
      api_key:
        description: Bearer token for O({option}.host). Falls back to E(K8S_AUTH_API_KEY).
        type: str
      ca_cert:
        description: CA certificate of the API server. Falls back to E(K8S_AUTH_SSL_CA_CERT).
        type: path
      validate_certs:
        description: Verify the API server's certificate. Falls back to E(K8S_AUTH_VERIFY_SSL).
        type: bool
"""


def connection_suboptions(option, subject):
    """The connection settings as suboptions (six spaces deep) of ``option``, which reaches ``subject``."""
    return _CONNECTION.format(option=option, subject=subject).strip("\n") + "\n"
