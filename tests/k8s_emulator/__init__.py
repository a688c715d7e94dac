"""A small Kubernetes API emulator for the claim-store tests (never shipped).

It answers like the real API server for what ``claims/kubernetes.py`` and
``claims/setup.py`` use: namespaces, Secrets, coordination.k8s.io/v1 Leases, and the
ServiceAccounts, Roles and RoleBindings the cnab_claims role creates, with resourceVersion
preconditions, label selectors, pagination and the server's Status errors. It stores RBAC
objects but does not enforce them. For the kubernetes driver it also serves batch/v1 Jobs,
Pods and pods/log, with a job controller, a garbage collector and a kubelet that runs each
pod's containers on the local Docker engine (workloads.py). See docs/kubernetes-emulator.md.
"""

from .cluster import ApiError, Cluster
from .server import Emulator, start_emulator

__all__ = ["ApiError", "Cluster", "Emulator", "start_emulator"]
