"""A guided job on a render worker: the control frames and the reference image travel with the
job (the worker never sees the paths), and the frames are the local run's."""

from __future__ import annotations

import numpy as np

from backend.core.guidance import ControlSpec, ReferenceImage
from tests.backend.test_guided_reference import guided_files  # noqa: F401 - session fixture
from tests.backend.test_remote import client, local_frames, tiny_request  # noqa: F401
from tests.remote_fixtures import needs_rabbitmq

pytestmark = needs_rabbitmq


def test_guided_job_on_a_worker_matches_local(render_workers, demo_models, guided_files,  # noqa: F811
                                              clip_folder, client, cache, tmp_path):  # noqa: F811
    image = sorted(clip_folder.iterdir())[1]
    request = tiny_request(
        demo_models, seed=5,
        controls=(ControlSpec(str(guided_files.controlnet), str(clip_folder), "canny", 0.8),),
        ip_adapter=ReferenceImage(str(image), 0.5), ip_adapter_model=str(guided_files.ip_adapter),
    )
    result = client.submit(request).wait()
    assert np.array_equal(result.frames, local_frames(request, cache))
    assert result.request.controls[0].source == str(clip_folder)  # what the user gave
    assert result.request.controls[0].sha256 and set(result.inputs) == {"control_0", "reference"}

