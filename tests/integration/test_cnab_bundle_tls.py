"""TLS to registries that are not on loopback: a custom CA, ``insecure``, and plain HTTP."""

import pytest
from registries import PrivateRegistry, outside_address, self_signed_ca_and_server
from support import HELLO

from ansible_collections.cnab.runtime.plugins.module_utils.bundle import load_bundle
from ansible_collections.cnab.runtime.plugins.module_utils.errors import RegistryError
from ansible_collections.cnab.runtime.plugins.module_utils.oci import distribution

ADDRESS = outside_address()
pytestmark = pytest.mark.skipif(ADDRESS is None, reason="this machine has no non-loopback IPv4 address")


def test_custom_ca_and_insecure(images, tmp_path):
    pem = self_signed_ca_and_server(str(tmp_path), ADDRESS)
    document = load_bundle(HELLO).document
    with PrivateRegistry(str(tmp_path), ADDRESS, tls=pem) as registry:
        with pytest.raises(RegistryError) as caught:
            distribution.push_bundle(document, registry.host + "/tls/hello:v1", {"retries": 0})
        assert "ca_cert" in str(caught.value) and str(caught.value).endswith(".")
        pushed = distribution.push_bundle(document, registry.host + "/tls/hello:v1", {"ca_cert": pem["ca"]})
        assert pushed.changed
        pulled = distribution.pull_bundle(registry.host + "/tls/hello:v1", {"insecure": True})
        assert pulled.index_digest == pushed.index_digest


def test_plain_http_needs_insecure(images, tmp_path):
    document = load_bundle(HELLO).document
    with PrivateRegistry(str(tmp_path), ADDRESS) as registry:
        with pytest.raises(RegistryError) as caught:
            distribution.push_bundle(document, registry.host + "/plain/hello:v1", {"retries": 0})
        assert "insecure" in str(caught.value)
        pushed = distribution.push_bundle(document, registry.host + "/plain/hello:v1", {"insecure": True})
        assert distribution.pull_bundle(registry.host + "/plain/hello:v1", {"insecure": True}).index_digest == \
            pushed.index_digest
