package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/moatsh/moat/internal/labels"
)

var testKey = bytes.Repeat([]byte{7}, minAnnotationKey)

// signedPod is the agent's pod as moat makes it, signed with testKey.
func signedPod(t *testing.T) *corev1.Pod {
	t.Helper()
	return planFor(t, agentSpec(t), planOptions{image: "img"}).pod
}

func TestPodAnnotationsSignedByThisHomeAreRead(t *testing.T) {
	pod := signedPod(t)
	dirs, err := podDirs(testKey, pod)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[0].Target != "/workspace" || dirs[0].Source == "" {
		t.Errorf("dirs %+v, want the workspace and the shared directory", dirs)
	}
	if got := podLabelsOf(testKey, pod); got[labels.Workspace] == "" {
		t.Errorf("labels %v: the workspace (only in the annotation) is missing", got)
	}
}

// Each change to what the signature covers, or a pod of another home, is
// refused: no directories, a RecordChangedError naming the pod, and the
// labels the pod itself carries.
func TestChangedPodAnnotationsAreRefused(t *testing.T) {
	otherKey := bytes.Repeat([]byte{8}, minAnnotationKey)
	for name, change := range map[string]func(p *corev1.Pod) []byte{
		"dirs pointed elsewhere": func(p *corev1.Pod) []byte {
			var dirs []hostDir
			json.Unmarshal([]byte(p.Annotations[annoDirs]), &dirs)
			dirs[0].Source = "/home/user/.ssh"
			b, _ := json.Marshal(dirs)
			p.Annotations[annoDirs] = string(b)
			return testKey
		},
		"dirs removed": func(p *corev1.Pod) []byte { delete(p.Annotations, annoDirs); return testKey },
		"labels changed": func(p *corev1.Pod) []byte {
			p.Annotations[annoLabels] = strings.Replace(p.Annotations[annoLabels], "abc123", "def456", 1)
			return testKey
		},
		"another pod's signature": func(p *corev1.Pod) []byte {
			p.Name = "moat-other"
			return testKey
		},
		"another namespace":  func(p *corev1.Pod) []byte { p.Namespace = "elsewhere"; return testKey },
		"no signature":       func(p *corev1.Pod) []byte { delete(p.Annotations, annoSig); return testKey },
		"empty signature":    func(p *corev1.Pod) []byte { p.Annotations[annoSig] = ""; return testKey },
		"another home's key": func(p *corev1.Pod) []byte { return otherKey },
		"no key":             func(p *corev1.Pod) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			pod := signedPod(t)
			key := change(pod)
			dirs, err := podDirs(key, pod)
			var changed *RecordChangedError
			if !errors.As(err, &changed) || dirs != nil {
				t.Fatalf("dirs %+v, error %v; want none and a RecordChangedError", dirs, err)
			}
			if changed.Pod != pod.Name || !strings.Contains(err.Error(), pod.Name) || !strings.Contains(err.Error(), "delete pod") {
				t.Errorf("error %q does not name pod %s and what to do", err, pod.Name)
			}
			if got := podLabelsOf(key, pod); !maps.Equal(got, pod.Labels) {
				t.Errorf("labels %v, want the pod's own %v", got, pod.Labels)
			}
		})
	}
}

// The fields are length-prefixed: moving bytes from one to the next
// changes the signature.
func TestAnnotationSigSeparatesItsFields(t *testing.T) {
	a := annotationSig(testKey, "ns", "pod", `{"a":"b"}`, `[]`)
	for _, b := range []string{
		annotationSig(testKey, "nsp", "od", `{"a":"b"}`, `[]`),
		annotationSig(testKey, "ns", "pod", `{"a":"b"}[`, `]`),
		annotationSig(testKey, "ns", "pod", `{"a":"b"}`, `[] `),
	} {
		if a == b {
			t.Errorf("two field tuples share the signature %s", a)
		}
	}
}

func TestRemovedPodErrorSaysSo(t *testing.T) {
	err := &RecordChangedError{Namespace: "agents", Pod: "moat-x", Removed: true}
	if msg := err.Error(); !strings.Contains(msg, "the pod was removed") || strings.Contains(msg, "delete pod") {
		t.Errorf("%q: want it to say the pod was removed, and not to ask for its deletion", msg)
	}
}

// copyOut checks the record before anything else: a changed one copies
// nothing (the engine here has no cluster to copy from), a signed one goes
// on to the copy (here refused: its keeper has ended).
func TestCopyOutChecksTheRecordFirst(t *testing.T) {
	e := &Engine{opts: Options{AnnotationKey: testKey}}
	pod := signedPod(t)
	pod.Annotations[annoDirs] = `[{"volume":"d0","source":"/home/user/.ssh","target":"/workspace"}]`
	var changed *RecordChangedError
	if err := e.copyOut(t.Context(), pod); !errors.As(err, &changed) {
		t.Fatalf("changed record: %v, want a RecordChangedError", err)
	}
	ended := signedPod(t)
	ended.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: keeperContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled"}}}}
	if err := e.copyOut(t.Context(), ended); err == nil || !strings.Contains(err.Error(), "keeper container does not run (it ended)") {
		t.Fatalf("signed record: %v, want the copy attempted", err)
	}
}
