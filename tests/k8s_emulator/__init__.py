"""A small Kubernetes API emulator for the claim-store tests (never shipped).

It answers like the real API server for what ``claims/kubernetes.py`` uses: namespaces,
Secrets and coordination.k8s.io/v1 Leases with resourceVersion preconditions, label
selectors, pagination and the server's Status errors. See docs/kubernetes-emulator.md.
"""

from .cluster import ApiError, Cluster
from .server import Emulator, start_emulator

__all__ = ["ApiError", "Cluster", "Emulator", "start_emulator"]
