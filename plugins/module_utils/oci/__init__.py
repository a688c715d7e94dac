"""OCI distribution of CNAB bundles: references, a registry client, the cnab-to-oci layout,
push/pull/copy and thick archives. Plain Python; no Ansible imports."""
