package kube

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// What moat writes on a pod and reads back later (the run's labels, the
// host paths its directories are copied back to) is signed with a key only
// this machine's moat home holds (Options.AnnotationKey): anyone who may
// patch pods in the namespace could otherwise point a copy-out at any
// directory of the user's.

// annoSig is the annotation holding the signature of a pod's annoLabels
// and annoDirs.
const annoSig = "moat.sh/sig"

// sigPrefix names the signature's scheme, so that another can follow.
const sigPrefix = "hmac-sha256-v1:"

// annotationSig signs the annotations moat relies on for pod name in
// namespace: an HMAC-SHA256 with key over each field, length-prefixed so
// that no two tuples share an encoding.
func annotationSig(key []byte, namespace, pod, labelsJSON, dirsJSON string) string {
	mac := hmac.New(sha256.New, key)
	for _, f := range []string{"moat pod annotations", namespace, pod, labelsJSON, dirsJSON} {
		mac.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		mac.Write([]byte(f))
	}
	return sigPrefix + base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
}

// signedByUs reports whether pod's annoLabels and annoDirs are the ones the
// moat home holding key wrote on it, for this namespace and pod name.
func signedByUs(key []byte, pod *corev1.Pod) bool {
	got, ok := pod.Annotations[annoSig]
	if !ok || len(key) == 0 {
		return false
	}
	want := annotationSig(key, pod.Namespace, pod.Name, pod.Annotations[annoLabels], pod.Annotations[annoDirs])
	return hmac.Equal([]byte(got), []byte(want))
}

// podLabelsOf reads back the labels moat gave a pod: the annotation's when
// its signature holds, else the pod's own labels alone (those a label value
// can carry; a path such as the workspace's is then missing).
func podLabelsOf(key []byte, pod *corev1.Pod) map[string]string {
	out := maps.Clone(pod.Labels)
	if out == nil {
		out = map[string]string{}
	}
	if !signedByUs(key, pod) {
		return out
	}
	var all map[string]string
	if json.Unmarshal([]byte(pod.Annotations[annoLabels]), &all) == nil {
		maps.Copy(out, all)
	}
	return out
}

// podDirs reads back the run's directories and their host sources, which
// copyOut writes to: only if the signature holds.
func podDirs(key []byte, pod *corev1.Pod) ([]hostDir, error) {
	if !signedByUs(key, pod) {
		return nil, &RecordChangedError{Namespace: pod.Namespace, Pod: pod.Name}
	}
	var dirs []hostDir
	if err := json.Unmarshal([]byte(pod.Annotations[annoDirs]), &dirs); err != nil {
		return nil, fmt.Errorf("pod %s: reading its record of the run's directories: %w", pod.Name, err)
	}
	return dirs, nil
}

// RecordChangedError reports a pod whose record of the run's directories
// does not carry this moat home's signature: someone who may patch pods
// in the namespace changed it, or another moat home (another machine, or
// another MOAT_HOME) made the pod. Nothing is copied back from it.
type RecordChangedError struct {
	Namespace, Pod string
	Removed        bool // the pod was removed all the same
}

func (e *RecordChangedError) Error() string {
	msg := fmt.Sprintf("pod %s in namespace %s: its record of the run's directories (annotation %s) was changed after moat made it, "+
		"or another moat home made the pod; its files are not copied back to this machine", e.Pod, e.Namespace, annoDirs)
	if e.Removed {
		return msg + ", and the pod was removed. Check who may patch pods in namespace " + e.Namespace
	}
	return msg + ". Delete the pod with 'kubectl -n " + e.Namespace + " delete pod " + e.Pod + "' (or 'moat destroy'), " +
		"and check who may patch pods in namespace " + e.Namespace
}
