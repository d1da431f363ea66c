#!/usr/bin/env bash
# Build the peers' own virtual environments under /tmp (their pins clash with ours):
#   /tmp/peer-panoptica  panoptica with numpy < 2.3
#   /tmp/peer-brats      the BraTS-2023 lesion-wise script's pins (pandas 1.3.4 needs
#                        Python <= 3.10; pandas 1.5 fails on its DataFrame.replace of lists)
# and a checkout of that script (rachitsaluja/BraTS-2023-Metrics) at the pinned commit, unless
# BRATS2023_METRICS_DIR already names one. Then: python tools/peers/make_instance_expected.py
set -euo pipefail
PYTHON=${PYTHON:-python3}          # any Python >= 3.10 for panoptica
PYTHON310=${PYTHON310:-python3.10} # the BraTS script's pandas 1.3.4 has wheels up to 3.10
BRATS_COMMIT=43c905242b2eecf421d4ab2da7af8ece9777d322
BRATS_DIR=${BRATS2023_METRICS_DIR:-/tmp/peer-brats/BraTS-2023-Metrics}

"$PYTHON" -m venv /tmp/peer-panoptica
/tmp/peer-panoptica/bin/pip install -q "panoptica==2.1.7" "numpy<2.3"

"$PYTHON310" -m venv /tmp/peer-brats
/tmp/peer-brats/bin/pip install -q "pandas==1.3.4" "numpy==1.24.3" "scipy==1.11.1" \
    "nibabel==5.1.0" "connected-components-3d==3.12.1"

if [ ! -f "$BRATS_DIR/metrics.py" ]; then
    git clone -q https://github.com/rachitsaluja/BraTS-2023-Metrics "$BRATS_DIR"
    git -C "$BRATS_DIR" checkout -q "$BRATS_COMMIT"
fi
echo "peers ready: /tmp/peer-panoptica, /tmp/peer-brats (script in $BRATS_DIR)"
