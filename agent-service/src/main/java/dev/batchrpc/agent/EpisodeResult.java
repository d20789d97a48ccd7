package dev.batchrpc.agent;

/**
 * One episode's outcome.
 *
 * @param episode the episode's number, from 0
 * @param steps its steps per observer
 * @param loss the REINFORCE loss of its update
 * @param episodeReward the mean first-sub-episode reward of the observers that finished it
 * @param runningReward the running reward after it
 * @param seconds how long it took, update included
 * @param observers how many observers finished it (the others left or sat out, see {@link Agent})
 */
public record EpisodeResult(long episode, int steps, float loss, double episodeReward,
    double runningReward, double seconds, int observers) {
}
