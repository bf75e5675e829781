"""Mappings between canonical entities and each system's objects (``mappings/*.yaml``).

The engine and the CLI use this package through a handful of names:
``load_mappings`` (validate + compile, raising ``ConfigError``),
``validate_mapping_files`` (problems only), ``MappingSet``/``ObjectMapping``
(apply, merge, hash), ``run_mapping_tests`` and ``write_schema``.
"""

from prm_sync.mapping.apply import MappingSet, ObjectMapping, load_mappings
from prm_sync.mapping.context import DictMappingContext, MappingContext, MappingValueError
from prm_sync.mapping.merge import Decision, MergeResult, ReviewItem
from prm_sync.mapping.schema import mapping_json_schema, write_schema
from prm_sync.mapping.testing import TestReport, run_mapping_tests
from prm_sync.mapping.validate import DescribeProvider, validate_mapping_files

__all__ = [
    "Decision",
    "DescribeProvider",
    "DictMappingContext",
    "MappingContext",
    "MappingSet",
    "MappingValueError",
    "MergeResult",
    "ObjectMapping",
    "ReviewItem",
    "TestReport",
    "load_mappings",
    "mapping_json_schema",
    "run_mapping_tests",
    "validate_mapping_files",
    "write_schema",
]
