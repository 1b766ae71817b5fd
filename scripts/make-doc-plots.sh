#!/usr/bin/env bash
# The README's density and landscape plots (doc/density.png, doc/landscape.png),
# made by the very commands the README shows, with the built flatparams.
# Usage: scripts/make-doc-plots.sh [FLATPARAMS]   (default: build/cmd/flatparams)
set -euo pipefail
cd "$(dirname "$0")/.."
flatparams=$(realpath "${1:-build/cmd/flatparams}")
spiral=(testdata/curvature/spiral.json -x testdata/curvature/spiral_x.npy
        -y testdata/curvature/spiral_y.npy --loss logitcrossentropy)
"$flatparams" hessian "${spiral[@]}" --density --probes 4 -o doc/density.png
"$flatparams" landscape "${spiral[@]}" -o doc/landscape.png
echo "wrote doc/density.png and doc/landscape.png"
