// Package deploy holds no Go code to run: it is the folder of the
// gateway's deployment files (Kubernetes kustomize base and example
// overlay, a compose file, the Grafana dashboard and the Prometheus alert
// rules), and its test validates them offline, so that a broken manifest
// fails the build.
package deploy
