package deps

// The SHA-256 of each toolchain download a recipe pins, by Debian
// architecture. The Dockerfile checks the download against it before
// unpacking; a release or an architecture without a sum is not installed.
// A version bump adds its sums here, from the sources named below.

// goSums are the SHA-256 of the toolchain zips the Go module proxy serves
// (https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go<release>.linux-<arch>.zip,
// what the go command itself downloads for GOTOOLCHAIN). Each zip was
// fetched with 'go mod download golang.org/toolchain@v0.0.1-go<release>.linux-<arch>',
// which checks it against the Go checksum database (sum.golang.org), and
// then hashed with sha256sum.
var goSums = map[string]map[string]string{
	"1.22.12": {
		"amd64": "d426bcf50497ae8665e741482aba04fc12782e8860857229d4005dcc480fd89b",
		"arm64": "3bbef63dbcd533d273315ec9b9c26c1dcc3342d30f3749a2af75661f0c3aab5a",
	},
	"1.23.12": {
		"amd64": "7bf9a01c191c452bf1fa9266a547abe0e437ff46d16adc9ec55fcc4fea24c121",
		"arm64": "66cddb0a8d3e3487c4f395985e15c27bdce9bbde7b94f042bb802137d21e2924",
	},
	"1.24.13": {
		"amd64": "d2b048367a3d1a748b87f756fa06df12ce3b419e1d5f2a3612acb8950d615f9f",
		"arm64": "50c7b3e59fa87479d8edf3e9ad81daa477c050fb580f2661cb3b8adaf70af86c",
	},
	"1.25.14": {
		"amd64": "1bb543a7745d4c6e045a1bfdb4c4d5a0b05b71ee8b8ff72c0a351598b26991a4",
		"arm64": "eee0803776a2a3d42f0620d7b0156277350debb5d39c99a9b61c8b12108fd92c",
	},
	"1.26.11": {
		"amd64": "e1edb778de0aa08c8e827f5a873b35a46afe680fb241482c531725b2355e470d",
		"arm64": "51902dab7e130b07083119a36ce09e0cc50fdd9d0d64184c24bd302072ad8b70",
	},
}

// nodeSums are the SHA-256 of nodejs.org's linux tarballs
// (https://nodejs.org/dist/v<release>/node-v<release>-linux-<x64|arm64>.tar.xz)
// as published in each release's SHASUMS256.txt. nodejs.org is out of
// reach of the machines this was written on, so each sum was taken from
// public repositories that pin it from that file, agreeing where more
// than one had it: 22.23.3 (x64 in three, arm64 in one, with the
// release's signed SHASUMS256.txt.asc digest), 24.21.0 (x64 in five,
// arm64 in one), 20.20.2 (x64 in one). Node 20's arm64 sum and every
// Node 18 sum were not found: those are not offered.
var nodeSums = map[string]map[string]string{
	"20.20.2": {
		"amd64": "df770b2a6f130ed8627c9782c988fda9669fa23898329a61a871e32f965e007d",
	},
	"22.23.3": {
		"amd64": "df450af89261115ef9f9e3830c3eeb2cc9213b63c720b1af623cb5dcbe2e02de",
		"arm64": "a44aeb94849a299b22df10b9e622ec2f605c2183501bc40590705131de7c740f",
	},
	"24.21.0": {
		"amd64": "fd8e59d5a511510f6a298afb548f18c7d2b1be404d8b4a27d94fbe49f56cb2d6",
		"arm64": "6ad1325edbdb5649c379b75a237147a666c95d4f9ae8d340fef2d1575d289ad2",
	},
}
