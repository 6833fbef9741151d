"""cdk8s constructs and a composition chart that run LLaMA Factory on Kubernetes and PCAI."""

from . import _node  # noqa: F401  (sets JSII_NODE before cdk8s starts its runtime)
from .chart import LlamaFactoryChart
from .connection_test import ConnectionTest
from .errors import ConstructError, LlamaFactoryError, SettingsError
from .ingress import EzuaIngress
from .loading import load_values, values_from_mapping
from .naming import ReleaseNames
from .network_policy import AppNetworkPolicy
from .shm import ShmVolume
from .storage import StorageConstruct
from .training import TrainingRun, render_training_config, synth_training
from .values import Values
from .workload import LlamaFactoryWorkload

__all__ = [
    "AppNetworkPolicy",
    "ConnectionTest",
    "ConstructError",
    "EzuaIngress",
    "LlamaFactoryChart",
    "LlamaFactoryError",
    "LlamaFactoryWorkload",
    "ReleaseNames",
    "SettingsError",
    "ShmVolume",
    "StorageConstruct",
    "TrainingRun",
    "Values",
    "load_values",
    "render_training_config",
    "synth_training",
    "values_from_mapping",
]
