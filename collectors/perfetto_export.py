"""A trace in Perfetto's format (the `perfetto` package's protos), to open in the Perfetto UI: one counter
track per frequency, utilisation, power rail, temperature and GPU counter, and slices for the phases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from collectors.trace import columns_of, pmc_columns

SEQUENCE_ID = 1


def export_perfetto(frame: pd.DataFrame, path: str | Path, name: str = "fusegov") -> Path:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TrackDescriptor, TrackEvent
    from perfetto.trace_builder.proto_builder import TraceProtoBuilder

    builder = TraceProtoBuilder()
    t_ns = (frame["t_s"].to_numpy(float) * 1e9).astype(np.int64)
    tracks = []
    for kind, unit in (("freq", "Hz"), ("util", "%"), ("power", "W"), ("temp", "C")):
        tracks += [(f"{kind}.{key} ({unit})", col) for key, col in columns_of(frame, kind).items()]
    tracks += [(col, col) for col in pmc_columns(frame)]
    uuid = 1000
    phase_track = uuid
    packet = builder.add_packet()
    packet.track_descriptor.uuid = phase_track
    packet.track_descriptor.name = f"{name}: phases"
    for label, column in tracks:
        uuid += 1
        packet = builder.add_packet()
        packet.track_descriptor.uuid = uuid
        packet.track_descriptor.name = label
        packet.track_descriptor.counter.SetInParent()
        values = frame[column].to_numpy(float)
        for t, value in zip(t_ns, values):
            if not np.isfinite(value):
                continue
            event = builder.add_packet()
            event.timestamp = int(t)
            event.trusted_packet_sequence_id = SEQUENCE_ID
            event.track_event.type = TrackEvent.TYPE_COUNTER
            event.track_event.track_uuid = uuid
            event.track_event.double_counter_value = float(value)
    labels = (frame["workload"].astype(str) + " " + frame["phase"].astype(str)).to_numpy()
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)]
    for start, end in zip(starts, ends):
        for t, kind in ((t_ns[start], TrackEvent.TYPE_SLICE_BEGIN), (t_ns[end - 1], TrackEvent.TYPE_SLICE_END)):
            event = builder.add_packet()
            event.timestamp = int(t)
            event.trusted_packet_sequence_id = SEQUENCE_ID
            event.track_event.type = kind
            event.track_event.track_uuid = phase_track
            if kind == TrackEvent.TYPE_SLICE_BEGIN:
                event.track_event.name = labels[start].strip()
    del TrackDescriptor
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(builder.serialize())
    return path
