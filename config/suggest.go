package config

import "strings"

// suggest returns the candidate closest to name when it is close enough to be
// a likely typo of it, or "" when none is. Closeness is the optimal string
// alignment distance (Levenshtein plus transpositions), compared without
// case; ties go to the candidate listed first.
func suggest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	lname := strings.ToLower(name)
	best, bestDist := "", -1
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := editDistance(lname, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || !closeEnough(len([]rune(name)), bestDist) {
		return ""
	}
	return best
}

// closeEnough reports whether an edit distance d is small enough, for a name
// of n runes, to be taken for a typo rather than a different word.
func closeEnough(n, d int) bool {
	if d >= n {
		return false
	}
	return d <= 2 || d <= n/3
}

// didYouMean returns `; did you mean "x"?` for the suggestion of name among
// candidates, or "".
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return "; did you mean \"" + s + "\"?"
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b,
// counted in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows are enough: the previous two and the current one.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
