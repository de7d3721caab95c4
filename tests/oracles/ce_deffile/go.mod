module singlet/tests/oracles/ce_deffile

go 1.26.8

require github.com/sylabs/singularity/v4 v4.3.1

require (
	github.com/ccoveille/go-safecast v1.6.1 // indirect
	github.com/containerd/stargz-snapshotter/estargz v0.16.3 // indirect
	github.com/containers/image/v5 v5.34.3 // indirect
	github.com/containers/storage v1.57.2 // indirect
	github.com/docker/cli v28.0.4+incompatible // indirect
	github.com/docker/docker-credential-helpers v0.8.2 // indirect
	github.com/google/go-containerregistry v0.20.4-0.20250225234217-098045d5e61f // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.17.11 // indirect
	github.com/mitchellh/go-homedir v1.1.0 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/samber/lo v1.49.1 // indirect
	github.com/sirupsen/logrus v1.9.3 // indirect
	github.com/sylabs/json-resp v0.9.4 // indirect
	github.com/sylabs/scs-key-client v0.7.8 // indirect
	github.com/sylabs/sif/v2 v2.21.1 // indirect
	github.com/vbatts/tar-split v0.11.7 // indirect
	golang.org/x/sync v0.13.0 // indirect
	golang.org/x/sys v0.32.0 // indirect
	golang.org/x/text v0.24.0 // indirect
)
