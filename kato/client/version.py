"""The SDK's version, its own module so that ``kato.client`` needs nothing of the server
package: ``clients/python`` (package ``kato-client``) reads it at build time too."""

__version__ = "2.0.0"
