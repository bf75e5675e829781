"""A local Salesforce org for tests and demos: REST, SOQL, collections, Bulk API 2.0, Tooling."""

from connectors.sandbox.salesforce.app import SalesforceSandbox

__all__ = ["SalesforceSandbox"]
