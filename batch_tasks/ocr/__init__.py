"""PP-OCR text reading: bounded decoding, our own pre- and post-processing, and the session-owning engine.

The pure numpy/OpenCV steps (`imaging`, `det_pre`, `db_post`, `crops`, `ctc`, `overlay`) never touch ONNX
Runtime; `sessions` and `engine` own the sessions. `opencv` is imported first so OpenCV's pixel limit is in
place before any decoder exists.
"""

from batch_tasks.ocr import opencv as _opencv  # noqa: F401 - sets OpenCV's limits before anything imports cv2
