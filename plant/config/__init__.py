"""The plant's configuration: one :class:`Settings` object, loaded once by :func:`load_settings`.

``sections`` holds the parts (fleet, ids, masses, postage, intake, marks, sweeps), ``loader`` the typed TOML reader and
``settings`` the whole with its cross-field checks. Everything is re-exported here.
"""

from plant.config.sections import (
    DEFAULT_WEIGHT_BANDS,
    IdKind,
    IdRangeConfig,
    InserterConfig,
    InserterDriver,
    IntakeConfig,
    LogFormat,
    MarksConfig,
    MassConfig,
    NoMailboxPolicy,
    PlanConfig,
    PostageConfig,
    PrinterConfig,
    PrinterDriver,
    QaConfig,
    QaGrade,
    SweepsConfig,
    TrackingConfig,
    WebConfig,
    WeightBandConfig,
)
from plant.config.settings import CONFIG_FILE, ENVIRONMENT, Settings, load_settings

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_WEIGHT_BANDS",
    "ENVIRONMENT",
    "IdKind",
    "IdRangeConfig",
    "InserterConfig",
    "InserterDriver",
    "IntakeConfig",
    "LogFormat",
    "MarksConfig",
    "MassConfig",
    "NoMailboxPolicy",
    "PlanConfig",
    "PostageConfig",
    "PrinterConfig",
    "PrinterDriver",
    "QaConfig",
    "QaGrade",
    "Settings",
    "SweepsConfig",
    "TrackingConfig",
    "WebConfig",
    "WeightBandConfig",
    "load_settings",
]
