import hiprom


def test_public_api_is_pinned():
    assert sorted(hiprom.__all__) == sorted([
        "DISCLAIMER", "BackendError", "FakeBackend", "Frame", "HipromError", "InputError",
        "LandmarkName", "Landmarks", "LegInput", "MeasureOptions", "Measurement",
        "MeasurementError", "PersonPolicy", "PoseBackend", "RunningMode", "SourceError",
        "__version__", "asymmetry", "build_plan", "interpret_measurement", "measure_path",
        "result_document", "safety_screen", "verdict_for", "write_outputs", "write_report",
    ])
    for name in hiprom.__all__:
        assert getattr(hiprom, name) is not None, name


def test_errors_share_one_base():
    for err in (hiprom.SourceError, hiprom.BackendError, hiprom.InputError,
                hiprom.MeasurementError):
        assert issubclass(err, hiprom.HipromError)
