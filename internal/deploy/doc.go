// Package deploy holds the tests of the shipped deployment files
// (deploy/kubernetes/*.yaml): they decode strictly as Kubernetes objects,
// and what they say agrees with the program (probe paths, the port, the
// token file, the config they mount, the shard count of the Job).
package deploy
